package PDSTest;

# Helpers for the plain Perl tests (stateful flows that Test::Nginx's
# one-request blocks do not fit): a scratch directory, nginx started on a
# free loopback port with our module (start_pds, whose configuration a
# flow writes inline), one way to make an account (create_account), HTTP
# with JSON, a local PLC directory, and the one rule by which the Node
# cross-checks in t/interop skip (need_node).  Everything listens on
# 127.0.0.1 and is stopped at exit.

use strict;
use warnings;

use Exporter 'import';
use File::Temp qw(tempdir);
use File::Path qw(make_path);
use IO::Socket::INET;
use JSON::PP;
use MIME::Base64 qw(encode_base64);
use Time::HiRes qw(sleep);
use Cwd qw(abs_path);

our @EXPORT_OK = qw(free_port scratch_dir module_path nginx_bin
                    write_file slurp nginx_test start_nginx stop_all
                    http_json basic_auth start_plc wait_port json
                    log_problems start_pds node_tap worker_user create_account
                    need_node nginx_pids);

my $Root = abs_path(__FILE__) =~ s{/t/lib/PDSTest\.pm$}{}r;
my @Pids;

sub json { JSON::PP->new->canonical->allow_nonref }

sub module_path {
    return $ENV{TEST_NGINX_LOAD_MODULES}
        || ($ENV{PDS_BUILD_DIR} || "$Root/build") . '/ngx_pds_module.so';
}

sub nginx_bin { $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx' }

sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, Proto => 'tcp',
                                  ReuseAddr => 1) or die "no free port: $!";
    my $p = $s->sockport;
    close $s;
    return $p;
}

sub scratch_dir {
    my $base = "$Root/t/servroot";
    make_path($base);
    my $dir = tempdir('plain-XXXXXX', DIR => $base, CLEANUP => !$ENV{PDS_KEEP});
    chmod 0755, $dir;    # nginx workers run as nobody when we are root
    return $dir;
}

sub write_file {
    my ($file, $text) = @_;
    open my $fh, '>', $file or die "$file: $!";
    print $fh $text;
    close $fh;
}

sub slurp {
    my $file = shift;
    open my $fh, '<', $file or return '';
    local $/;
    my $t = <$fh>;
    close $fh;
    return $t;
}

# nginx -t on a configuration text: (exit status, output)
sub nginx_test {
    my ($dir, $conf) = @_;
    make_path("$dir/logs");
    $conf = worker_user() . $conf unless $conf =~ /^\s*user\s/m;
    write_file("$dir/nginx.conf", $conf);
    my $out = `@{[nginx_bin()]} -p $dir/ -c $dir/nginx.conf -e $dir/logs/error.log -t 2>&1`;
    return ($? >> 8, $out);
}

sub wait_port {
    my ($port, $secs) = @_;
    for (1 .. ($secs || 10) * 40) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $port, Proto => 'tcp');
        # a connect to a port in the ephemeral range can meet itself (TCP
        # self-connect: the kernel picked the same port as the source)
        # while nothing listens yet: that is not a server
        if ($s) { my $self = $s->sockport == $port; close $s; return 1 unless $self }
        sleep 0.025;
    }
    return 0;
}

# Starts nginx in the foreground (as a child we can reap) with the given
# configuration text; returns its pid once $port accepts connections.
# As root, nginx runs its workers as "nobody", who cannot reach a checkout
# under a private home (/root is 0700): tests run them as the invoking
# user, as `make run` does, unless the configuration names a user.
sub worker_user {
    return '' if $> != 0;
    my $user = getpwuid($>) // 'root';
    my $group = getgrgid($)) // 'root';
    return "user $user $group;\n";
}

sub start_nginx {
    my ($dir, $conf, $port) = @_;
    make_path("$dir/logs");
    $conf = worker_user() . $conf unless $conf =~ /^\s*user\s/m;
    write_file("$dir/nginx.conf", $conf);
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>>', "$dir/logs/stdout.log";
        open STDERR, '>>', "$dir/logs/stdout.log";
        exec nginx_bin(), '-p', "$dir/", '-c', "$dir/nginx.conf",
             '-e', "$dir/logs/error.log", '-g', 'daemon off;';
        exit 127;
    }
    push @Pids, $pid;
    wait_port($port) or die "nginx did not listen on $port:\n"
                            . slurp("$dir/logs/error.log")
                            . slurp("$dir/logs/stdout.log");
    return $pid;
}

# [alert], [emerg], crashed workers or sanitizer reports in an error log
sub log_problems {
    my $file = shift;
    (my $stdout = $file) =~ s{[^/]+$}{stdout.log};
    return grep { /\[(alert|emerg)\]|exited on signal|AddressSanitizer|runtime error:/ }
           split /\n/, slurp($file) . "\n" . ($stdout ne $file ? slurp($stdout) : '');
}

# A local did:plc directory (the real @did-plc/server) on a free port.
sub start_plc {
    my ($dir) = @_;
    my $port = free_port();
    my $nm = "$Root/t/js/node_modules";
    -d "$nm/\@did-plc/server" or return undef;
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        $ENV{NODE_PATH} = $nm;
        $ENV{PLC_PORT} = $port;
        open STDOUT, '>>', "$dir/plc.log";
        open STDERR, '>>', "$dir/plc.log";
        exec 'node', "$Root/tools/plc/plc-server.cjs";
        exit 127;
    }
    push @Pids, $pid;
    wait_port($port, 20) or die "PLC did not start:\n" . slurp("$dir/plc.log");
    return "http://127.0.0.1:$port";
}

# A whole local PDS the way `make run` sets it up: a PLC directory, nginx
# with one tenant (hostname localhost, handle domain .test, invites
# required) on a free port.  Returns a hash: url, port, dir, plc, admin
# (password), log (error log path), or undef when there is no PLC
# directory (no npm packages).  Options, each an nginx.conf snippet written
# inline in the flow's file, as Test::Nginx's sections:
#
#   config       directives for the tenant's server block (a later
#                directive of the same name overrides a default);
#                "extra" is the same
#   http_config  text for the http block, such as a mock backend's own
#                server block
#   main_config  text for the main context
#
# and workers (worker_processes), plc (a running PLC directory's URL), dir,
# admin_password.
sub start_pds {
    my (%o) = @_;
    my $dir = $o{dir} || scratch_dir();
    my $plc = $o{plc} || start_plc($dir) or return undef;
    my $port = free_port();
    my $admin = $o{admin_password} || 'admin-pass-' . $$;
    my $extra = join "\n", grep { defined } $o{config}, $o{extra};
    my $http = $o{http_config} // '';
    my $main = $o{main_config} // '';
    my $workers = $o{workers} || 1;
    my $module = module_path();
    # the official Lexicon schemas, for record validation
    my $shared = $ENV{PDS_SHARED_DIR} || "$Root/../shared";
    my $lex = -d "$shared/lexicons/app/bsky" ? "pds_lexicons $shared/lexicons;" : '';
    my $conf = <<"END";
load_module $module;
worker_processes $workers;
error_log $dir/logs/error.log info;
pid $dir/nginx.pid;
thread_pool pds threads=2;
@{[ $ENV{PDS_TEST_MAIN_EXTRA} || '' ]}
$main
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $dir/tmp;
$http
    server {
        listen 127.0.0.1:$port;
        server_name localhost;
        pds_hostname localhost;
        pds_port $port;
        pds_data_dir $dir/data;
        pds_admin_password $admin;
        pds_jwt_secret jwt-secret-$$;
        pds_plc_rotation_key 5e2f3c1d0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d;
        pds_plc_url $plc;
        pds_thread_pool pds;
        $lex
        $extra
        location / { pds; }
    }
}
END
    start_nginx($dir, $conf, $port);
    return { url => "http://127.0.0.1:$port", port => $port, dir => $dir,
             plc => $plc, admin => $admin, log => "$dir/logs/error.log" };
}

# (master pid, worker pids) of a PDS's nginx, once WANT workers (default
# 1) are there or after 5 seconds: its port accepts connections before the
# pid file is written and the workers are forked.
sub nginx_pids {
    my ($pds, $want) = @_;
    $want ||= 1;
    my ($master, @workers);
    for (1 .. 100) {
        ($master) = slurp("$pds->{dir}/nginx.pid") =~ /^(\d+)/;
        if ($master) {
            @workers = grep { ((slurp("/proc/$_/stat") =~ /^\d+ \(.*?\) \S (\d+)/)[0] // -1) == $master }
                       map { m{/proc/(\d+)$} ? $1 : () } glob '/proc/[0-9]*';
            last if @workers >= $want;
        }
        sleep 0.05;
    }
    return ($master, sort { $a <=> $b } @workers);
}

# An account on a PDS from start_pds: an invite code made with the admin
# password (unless invite => 0), then createAccount.  The handle defaults
# to NAME.test, the email to NAME\@example.com and the password to
# NAME-password, where NAME is the handle's first label:
#
#   my $a = create_account($pds, handle => 'dana.test', password => 'x');
#
# Returns createAccount's answer (did, handle, accessJwt, refreshJwt,
# didDoc) with the email and password added, or undef after a diag of the
# refusal, so a flow asserts it: ok($a, 'account created').
sub create_account {
    my ($pds, %o) = @_;
    my $handle = $o{handle} // die "create_account: no handle";
    my ($name) = $handle =~ /^([^.]+)/;
    my $email = $o{email} // "$name\@example.com";
    my $password = $o{password} // "$name-password";
    my %body = (handle => $handle, email => $email, password => $password);
    if ($o{invite} // 1) {
        my ($s, $inv) = http_json(POST => "$pds->{url}/xrpc/com.atproto.server.createInviteCode",
                                  { useCount => 1 },
                                  { Authorization => basic_auth('admin', $pds->{admin}) });
        if ($s != 200) {
            Test::More::diag("createInviteCode: $s " . (ref $inv ? json()->encode($inv) : $inv));
            return undef;
        }
        $body{inviteCode} = $inv->{code};
    }
    my ($s, $b) = http_json(POST => "$pds->{url}/xrpc/com.atproto.server.createAccount", \%body);
    if ($s != 200) {
        Test::More::diag("createAccount $handle: $s " . (ref $b ? json()->encode($b) : $b));
        return undef;
    }
    return { %$b, email => $email, password => $password };
}

# The one skip rule of the Node cross-checks (t/interop/*.t): without node
# or without the npm packages of t/js (make node-deps), the file is
# skipped; named packages must be there as well.  Call it first.
sub need_node {
    my @packages = @_;
    my $nm = "$Root/t/js/node_modules";
    my $why = !grep({ -x "$_/node" } split /:/, $ENV{PATH} // '') ? 'node is not installed'
            : !-d $nm ? 'no npm packages in t/js (make node-deps)'
            : (map { -d "$nm/$_" ? () : "npm package $_ is missing" } @packages)[0];
    return 1 unless $why;
    require Test::More;
    Test::More::plan(skip_all => "interop: $why");
}

# Runs a Node script from t/js that prints TAP, with extra environment, and
# replays each of its results as a test of ours (so one plan covers both).
sub node_tap {
    my ($script, %env) = @_;
    local @ENV{keys %env} = values %env;
    my $out = `node $Root/t/js/$script 2>&1`;
    my $status = $? >> 8;
    my $n = 0;
    for my $line (split /\n/, $out) {
        if ($line =~ /^(not )?ok \d+ - (.*)$/) {
            Test::More::ok(!$1, "node: $2");
            $n++;
        } elsif ($line =~ /^#/) {
            Test::More::diag($line);
        } elsif ($line !~ /^1\.\.\d+/ && $line =~ /\S/) {
            Test::More::diag("node: $line");
        }
    }
    Test::More::ok($status == 0 && $n > 0, "node $script ran $n checks and exited $status");
}

sub basic_auth {
    my ($user, $pass) = @_;
    return 'Basic ' . encode_base64("$user:$pass", '');
}

# (status, decoded JSON or raw body, response) for a request with an
# optional JSON body (a reference, or raw bytes) and headers.  A plain
# HTTP/1.1 client, so that tests can set any Host header.
sub http_json {
    my ($method, $url, $body, $headers) = @_;
    my ($host, $port, $path) = $url =~ m{^http://([^/:]+):(\d+)(/.*)?$}
        or die "bad url $url";
    $path //= '/';
    my %h = (Host => "$host:$port", Connection => 'close',
             %{ $headers || {} });
    my $content = '';
    if (defined $body) {
        $h{'Content-Type'} //= 'application/json';
        $content = ref $body ? json()->encode($body) : $body;
        $h{'Content-Length'} = length $content;
    } elsif ($method eq 'POST') {
        $h{'Content-Length'} = 0;
    }
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 30)
        or return (599, "connect: $!", {});
    binmode $s;
    print $s join("\r\n", "$method $path HTTP/1.1",
                  map { "$_: $h{$_}" } grep { defined $h{$_} } sort keys %h)
             . "\r\n\r\n" . $content;
    local $/;
    my $raw = <$s> // '';
    close $s;
    my ($head, $rest) = split /\r\n\r\n/, $raw, 2;
    my ($status_line, @lines) = split /\r\n/, $head // '';
    my ($status) = ($status_line // '') =~ m{^HTTP/\S+\s+(\d+)};
    my %rh;
    for (@lines) {
        my ($k, $v) = /^([^:]+):\s*(.*)$/ or next;
        $k = lc $k;
        $rh{$k} = exists $rh{$k} ? "$rh{$k}, $v" : $v;
    }
    $rest //= '';
    if (($rh{'transfer-encoding'} // '') =~ /chunked/i) {
        my $out = '';
        while ($rest =~ s/^([0-9a-fA-F]+)[^\r\n]*\r\n//) {
            my $len = hex $1;
            last if $len == 0;
            $out .= substr($rest, 0, $len, '');
            $rest =~ s/^\r\n//;
        }
        $rest = $out;
    }
    my $res = { status => $status // 599, headers => \%rh, content => $rest };
    my $data = eval { json()->decode($rest) } // $rest;
    return ($res->{status}, $data, $res);
}

sub stop_all {
    for my $pid (reverse @Pids) {
        kill 'TERM', $pid;
    }
    for my $pid (@Pids) {
        waitpid $pid, 0;
    }
    @Pids = ();
}

END { stop_all() unless $ENV{PDS_KEEP} }

1;
