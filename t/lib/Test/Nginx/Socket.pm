package Test::Nginx::Socket;

# A small stand-in for openresty's Test::Nginx::Socket (not packaged in
# Debian), written for this project on Debian's Test::Base.  It supports the
# subset of the data-driven format our t/*.t files use, so the same files
# also run under the CPAN module:
#
#   sections: main_config http_config config user_files request
#             more_headers error_code response_body response_body_like
#             response_headers error_log no_error_log timeout must_die
#   functions: plan run_tests blocks repeat_each no_shuffle workers
#              master_on master_off log_level no_root_location env_to_nginx
#              no_long_string $ServerPort
#
# As in test-nginx, a block's error_log and no_error_log look at what
# nginx logged since it was started for the block (startup included) or,
# when the block reuses a running nginx (repeat_each), since its request.
#
# --- must_die: the block's configuration must make nginx refuse to
# start.  One test: nginx exits non-zero ("die as expected"), or with the
# given exit code when the section has a number.  No request is sent; the
# error_log and no_error_log sections are checked against the whole error
# log of that start.  An nginx that starts anyway fails the block and is
# stopped.
#
# --- user_files: files written into the server root's html directory
# (or to an absolute path) before nginx starts, in test-nginx's format
# (">>> name" lines, each followed by the content), or with "eval" an
# array of [name, content] pairs; $TEST_NGINX_* variables are expanded.
#
# Differences kept on purpose: every test file gets its own server root
# (t/servroot/<file>) and a free port, so prove -j works; after each block
# the new part of the error log is checked for [alert], [emerg], crashed
# workers and sanitizer reports, which fail the block (for a must_die
# block, only crashes and sanitizer reports: its [emerg] is the point).

use strict;
use warnings;

use Test::Base ();
use IO::Socket::INET;
use IO::Select;
use File::Path qw(make_path remove_tree);
use File::Basename qw(basename);
use Cwd qw(cwd abs_path);
use Time::HiRes qw(sleep time);

our @ISA = ('Test::Base');
# Test::Base (through Spiffy) exports its own list as well
our @EXPORT = (qw(
    run_tests repeat_each no_shuffle workers master_on master_off
    log_level no_root_location env_to_nginx no_long_string
    add_block_preprocessor $ServerPort $ServerPortForClient
    server_root
));

my $RepeatEach = 1;
my $Workers = 1;
my $MasterProcess = 'off';
my $LogLevel = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
my $NoRootLocation = 0;
my @EnvToNginx;
my @BlockPreprocessors;

our $ServerPort = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT}
                  || free_port();
our $ServerPortForClient = $ServerPort;

my $NginxBinary = $ENV{TEST_NGINX_BINARY} || 'nginx';
my $Timeout = $ENV{TEST_NGINX_TIMEOUT} || 3;
my $ServRoot = $ENV{TEST_NGINX_SERVROOT}
               || cwd() . '/t/servroot/' . basename($0, '.t');
$ServRoot = abs_path($ServRoot) // $ServRoot if -d $ServRoot;

$ENV{TEST_NGINX_SERVER_PORT} = $ServerPort;
$ENV{TEST_NGINX_SERVROOT} = $ServRoot;
$ENV{TEST_NGINX_HTML_DIR} = "$ServRoot/html";

sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, Proto => 'tcp', ReuseAddr => 1)
        or die "cannot find a free port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

sub repeat_each { $RepeatEach = shift if @_; return $RepeatEach }
sub no_shuffle { }
sub no_long_string { }
sub workers { $Workers = shift }
sub master_on { $MasterProcess = 'on' }
sub master_off { $MasterProcess = 'off' }
sub log_level { $LogLevel = shift }
sub no_root_location { $NoRootLocation = 1 }
sub env_to_nginx { push @EnvToNginx, @_ }
sub add_block_preprocessor { push @BlockPreprocessors, shift }
sub server_root { $ServRoot }

# a section's value, or undef when no block of the file has that section
sub sec {
    my ($block, $name) = @_;
    return $block->can($name) ? $block->$name : undef;
}

sub expand_env {
    my $text = shift;
    return '' unless defined $text;
    $text =~ s/\$(TEST_NGINX_[_A-Z0-9]+)/
        defined $ENV{$1} ? $ENV{$1} : die "no environment variable \$$1\n"/ge;
    return $text;
}

my $nginx_pid;
my $LogChecked = 0;

# a daemonized nginx is nobody's child here: an exited one may linger as
# a zombie until init reaps it
sub alive {
    my $pid = shift;
    return 0 unless kill(0, $pid);
    open my $fh, '<', "/proc/$pid/stat" or return 1;
    my $stat = <$fh>;
    close $fh;
    return ($stat // '') !~ /^\d+ \(.*\) Z/;
}

sub stop_nginx {
    my $pidfile = "$ServRoot/logs/nginx.pid";
    my $pid = $nginx_pid;
    if (!$pid && -f $pidfile) {
        open my $fh, '<', $pidfile or return;
        $pid = <$fh>;
        close $fh;
        chomp $pid if defined $pid;
    }
    return unless $pid && alive($pid);
    kill 'TERM', $pid;
    for (1 .. 500) {
        return unless alive($pid);
        sleep 0.01;
    }
    kill 'KILL', $pid;
    sleep 0.1;
}

sub write_config {
    my $block = shift;

    my $conf = '';
    for my $m (split ' ', $ENV{TEST_NGINX_LOAD_MODULES} || '') {
        $conf .= "load_module $m;\n";
    }

    my $main = expand_env(sec($block, 'main_config'));
    my $http = expand_env(sec($block, 'http_config'));
    my $server = expand_env(sec($block, 'config'));
    my $env = join '', map { "env $_;\n" } @EnvToNginx;
    my $root = $NoRootLocation ? ''
        : "        location / {\n            root html;\n        }\n";

    # workers as the invoking user (see PDSTest::worker_user), unless the
    # block names one
    my $user = ($> == 0 && ($main // '') !~ /^\s*user\s/m)
             ? 'user ' . (getpwuid($>) // 'root') . ' ' . (getgrgid($)) // 'root') . ";\n"
             : '';

    $conf .= <<"EOF";
${user}worker_processes $Workers;
daemon on;
master_process $MasterProcess;
error_log logs/error.log $LogLevel;
pid logs/nginx.pid;
$env
$main

http {
    access_log logs/access.log;
    default_type text/plain;
    keepalive_timeout 68;
    client_body_temp_path $ServRoot/client_body_temp;
    proxy_temp_path $ServRoot/proxy_temp;
    fastcgi_temp_path $ServRoot/fastcgi_temp;
    uwsgi_temp_path $ServRoot/uwsgi_temp;
    scgi_temp_path $ServRoot/scgi_temp;

$http

    server {
        listen 127.0.0.1:$ServerPort;
        server_name localhost;
        client_max_body_size 30M;

$server
$root
    }
}

events {
    accept_mutex off;
    worker_connections 64;
}
EOF

    open my $fh, '>', "$ServRoot/conf/nginx.conf" or die $!;
    print $fh $conf;
    close $fh;
}

sub start_nginx {
    my $block = shift;

    stop_nginx();
    remove_tree($ServRoot) if -d $ServRoot;
    $LogChecked = 0;
    make_path("$ServRoot/$_") for qw(conf logs html);
    write_config($block);
    write_user_files($block);

    my @cmd = ($NginxBinary, '-p', "$ServRoot/", '-c', 'conf/nginx.conf',
               '-e', "$ServRoot/logs/error.log");
    my $out = `@cmd 2>&1`;
    if ($? != 0) {
        return "cannot start nginx: $out";
    }

    # wait until the pid file shows and the port accepts connections
    for (1 .. 200) {
        if (-s "$ServRoot/logs/nginx.pid") {
            my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                          PeerPort => $ServerPort,
                                          Proto => 'tcp');
            if ($s) {
                close $s;
                open my $fh, '<', "$ServRoot/logs/nginx.pid";
                $nginx_pid = <$fh>;
                chomp $nginx_pid;
                return undef;
            }
        }
        sleep 0.025;
    }
    return "nginx did not start listening on port $ServerPort";
}

sub write_user_files {
    my $block = shift;

    my $files = sec($block, 'user_files');
    return unless defined $files;
    if (!ref $files) {
        my @list;
        for my $line (split /^/m, $files) {
            if ($line =~ /^>>> (\S+)/) {
                push @list, [ $1, '' ];
            } elsif (@list) {
                $list[-1][1] .= $line;
            }
        }
        $files = \@list;
    }
    for my $f (@$files) {
        my ($name, $body) = @$f;
        my $path = $name =~ m{^/} ? $name : "$ServRoot/html/$name";
        (my $dir = $path) =~ s{/[^/]*$}{};
        make_path($dir) unless -d $dir;
        open my $fh, '>', $path or die "$path: $!";
        binmode $fh;
        print $fh expand_env($body // '');
        close $fh;
    }
}

sub build_request {
    my $block = shift;

    my $req = sec($block, 'request');
    $req = expand_env($req) if defined $req;
    my ($line, $body) = split /\n/, $req, 2;
    $line =~ s/^\s+//;
    $line =~ s/\s+$//;
    my ($method, $uri, $proto) = split /\s+/, $line;
    $proto ||= 'HTTP/1.1';

    my @headers;
    my ($has_host, $has_cl, $has_conn);
    for my $h (split /\n/, expand_env(sec($block, 'more_headers') // '')) {
        next unless $h =~ /\S/;
        push @headers, $h;
        $has_host = 1 if $h =~ /^host\s*:/i;
        $has_cl = 1 if $h =~ /^content-length\s*:/i;
        $has_conn = 1 if $h =~ /^connection\s*:/i;
    }

    if (defined $body && !$has_cl) {
        $body =~ s/^\s+//s;
        $body =~ s/\s+$//s;
    }
    $body = '' unless defined $body;

    unshift @headers, 'Host: localhost' unless $has_host;
    push @headers, 'Connection: close' unless $has_conn;
    push @headers, 'Content-Length: ' . length($body)
        if !$has_cl && ($body ne '' || $method eq 'POST' || $method eq 'PUT');

    return join("\r\n", "$method $uri $proto", @headers) . "\r\n\r\n"
           . $body;
}

sub send_request {
    my ($raw, $timeout) = @_;

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $ServerPort, Proto => 'tcp',
                                  Timeout => $timeout)
        or return (undef, "cannot connect: $!");
    binmode $s;
    print $s $raw;

    my $resp = '';
    my $sel = IO::Select->new($s);
    my $deadline = time + $timeout;
    while (1) {
        my $left = $deadline - time;
        last if $left <= 0;
        last unless $sel->can_read($left);
        my $n = sysread($s, my $buf, 65536);
        last unless $n;
        $resp .= $buf;
    }
    close $s;

    return (undef, "timeout reading the response") if time >= $deadline
                                                      && $resp eq '';
    return parse_response($resp);
}

sub parse_response {
    my $raw = shift;

    my ($head, $body) = split /\r\n\r\n/, $raw, 2;
    return (undef, "malformed response: $raw") unless defined $head;
    my ($status_line, @lines) = split /\r\n/, $head;
    my ($code) = $status_line =~ m{^HTTP/\d\.\d\s+(\d+)};
    my %h;
    for (@lines) {
        my ($k, $v) = /^([^:]+):\s*(.*)$/ or next;
        $k = lc $k;
        $h{$k} = exists $h{$k} ? "$h{$k}, $v" : $v;
    }
    $body //= '';
    if (($h{'transfer-encoding'} // '') =~ /chunked/i) {
        my $out = '';
        while ($body =~ s/^([0-9a-fA-F]+)[^\r\n]*\r\n//) {
            my $len = hex $1;
            last if $len == 0;
            $out .= substr($body, 0, $len, '');
            $body =~ s/^\r\n//;
        }
        $body = $out;
    }
    return ({ status => $code, headers => \%h, body => $body }, undef);
}

sub log_tail {
    my $offset = shift;
    my $file = "$ServRoot/logs/error.log";
    open my $fh, '<', $file or return '';
    seek $fh, $offset, 0;
    local $/;
    my $text = <$fh>;
    close $fh;
    return $text // '';
}

sub log_size { return -s "$ServRoot/logs/error.log" || 0 }

sub patterns {
    my $v = shift;
    return () unless defined $v;
    return @$v if ref $v eq 'ARRAY';
    return (ref $v ? $v : grep { /\S/ } split /\n/, $v);
}

sub check_log_health {
    my ($name, $text) = @_;
    $LogChecked = log_size();
    my @bad = grep { /\[(alert|emerg)\]|exited on signal|AddressSanitizer|runtime error:/ }
              split /\n/, $text;
    if (@bad) {
        Test::More::fail("$name - error log is clean");
        Test::More::diag($_) for @bad[0 .. ($#bad > 9 ? 9 : $#bad)];
    }
}

# the error_log and no_error_log sections of a block against a log text
sub check_log_sections {
    my ($block, $name, $log) = @_;

    for my $p (patterns(sec($block, 'error_log'))) {
        if (ref $p) {
            Test::More::like($log, $p, "$name - error_log matches $p");
        } else {
            Test::More::ok(index($log, $p) >= 0,
                           "$name - error_log has \"$p\"");
        }
    }

    for my $p (patterns(sec($block, 'no_error_log'))) {
        if (ref $p) {
            Test::More::unlike($log, $p, "$name - no_error_log $p");
        } else {
            Test::More::ok(index($log, $p) < 0,
                           "$name - no_error_log \"$p\"");
        }
    }
}

# --- must_die: nginx is started with the block's configuration and must
# refuse; no request is sent
sub run_must_die {
    my ($block, $name) = @_;

    stop_nginx();
    undef $nginx_pid;
    remove_tree($ServRoot) if -d $ServRoot;
    make_path("$ServRoot/$_") for qw(conf logs html);
    write_config($block);
    write_user_files($block);

    my @cmd = ($NginxBinary, '-p', "$ServRoot/", '-c', 'conf/nginx.conf',
               '-e', "$ServRoot/logs/error.log");
    my $out = `@cmd 2>&1`;
    my $status = $?;
    my $want = sec($block, 'must_die');
    $want =~ s/\s+//g;

    if ($status == -1) {
        Test::More::fail("$name - failed to execute the nginx command line");
    } elsif ($status & 127) {
        Test::More::fail("$name - nginx was killed by signal " . ($status & 127));
    } elsif ($want =~ /^\d+$/) {
        Test::More::is($status >> 8, $want, "$name - die with the expected exit code");
    } else {
        Test::More::isnt($status, 0, "$name - die as expected")
            or Test::More::diag($out);
    }

    if ($status == 0) {
        # it started after all: wait for its pid file, then stop it
        for (1 .. 200) {
            last if -s "$ServRoot/logs/nginx.pid";
            sleep 0.025;
        }
        stop_nginx();
    }

    my $log = log_tail(0);
    check_log_sections($block, $name, $log);

    $LogChecked = log_size();
    my @bad = grep { /exited on signal|AddressSanitizer|runtime error:/ }
              split /\n/, $log . "\n" . $out;
    if (@bad) {
        Test::More::fail("$name - no crash while refusing the configuration");
        Test::More::diag($_) for @bad[0 .. ($#bad > 9 ? 9 : $#bad)];
    }
}

sub run_block {
    my ($block, $rep) = @_;
    my $name = $block->name;
    $name .= " (repeat $rep)" if $RepeatEach > 1;

    $_->($block) for @BlockPreprocessors;

    return run_must_die($block, $name) if defined sec($block, 'must_die');

    # what nginx logs from its start on belongs to the block that started it
    my $offset;
    if ($rep == 1 || !$nginx_pid || !alive($nginx_pid)) {
        my $err = start_nginx($block);
        if ($err) {
            Test::More::fail("$name - start nginx");
            Test::More::diag($err);
            Test::More::diag(log_tail(0));
            return;
        }
        $offset = 0;
    }

    $offset //= log_size();
    my $timeout = sec($block, 'timeout') || $Timeout;
    my ($res, $err) = send_request(build_request($block), $timeout);

    if (!$res) {
        Test::More::fail("$name - request: $err");
        return;
    }

    # give the worker a moment to write its log lines
    sleep 0.05 if defined sec($block, 'error_log') || defined sec($block, 'no_error_log');

    my $code = defined sec($block, 'error_code') ? sec($block, 'error_code') : 200;
    $code =~ s/\s+//g;
    Test::More::is($res->{status}, $code, "$name - status code ok");

    if (defined sec($block, 'response_headers')) {
        for my $line (split /\n/, expand_env(sec($block, 'response_headers'))) {
            next unless $line =~ /\S/;
            my ($k, $v) = $line =~ /^\s*([^:]+):\s*(.*?)\s*$/;
            my $got = $res->{headers}{lc $k};
            if ($v eq '') {
                Test::More::ok(!defined $got, "$name - header $k absent");
            } else {
                Test::More::is($got, $v, "$name - header $k ok");
            }
        }
    }

    if (defined sec($block, 'response_body')) {
        Test::More::is($res->{body}, expand_env(sec($block, 'response_body')),
                       "$name - response_body - response is expected");
    }

    if (defined sec($block, 'response_body_like')) {
        my $re = sec($block, 'response_body_like');
        $re = qr/$re/s unless ref $re;
        Test::More::like($res->{body}, $re,
                         "$name - response_body_like - response is expected");
    }

    my $log = log_tail($offset);
    check_log_sections($block, $name, $log);
    check_log_health($name, $log);
}

sub run_tests {
    for my $block (Test::Base::blocks()) {
        for my $rep (1 .. $RepeatEach) {
            run_block($block, $rep);
        }
    }
    stop_nginx();
    check_log_health('shutdown', log_tail($LogChecked)) if -f "$ServRoot/logs/error.log";
}

END { stop_nginx() }

1;
