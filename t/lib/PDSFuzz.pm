package PDSFuzz;

# Helpers of the hardening tests (t/05-fuzz-http.t, t/07-tenant-isolation.t,
# t/42-server-kill.t) that t/lib/PDSTest.pm does not have: a plain
# WebSocket client for subscribeRepos (raw frames, any Host header), an
# nginx configuration with several tenants, accounts in one call, and a
# process tree killed with SIGKILL.  Loopback only.

use strict;
use warnings;

use Exporter 'import';
use IO::Socket::INET;
use IO::Select;
use MIME::Base64 qw(encode_base64);
use Digest::SHA qw(sha1);
use Time::HiRes qw(time sleep);
use PDSTest qw(http_json basic_auth module_path);

our @EXPORT_OK = qw(ws_open ws_frames ws_close tenant_conf new_account
                    process_tree kill_tree);

# Opens subscribeRepos on 127.0.0.1:$port with the given Host header and
# query ('' or '?cursor=N'): the socket after a 101, or undef and the
# answer that came instead.
sub ws_open {
    my ($port, $host, $query) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 10)
        or return (undef, "connect: $!");
    binmode $s;
    my $key = encode_base64(join('', map { chr int rand 256 } 1 .. 16), '');
    print $s "GET /xrpc/com.atproto.sync.subscribeRepos" . ($query // '') . " HTTP/1.1\r\n"
           . "Host: $host\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           . "Sec-WebSocket-Key: $key\r\nSec-WebSocket-Version: 13\r\n\r\n";
    my $buf = '';
    my $sel = IO::Select->new($s);
    my $deadline = time + 10;
    while (index($buf, "\r\n\r\n") < 0 && time < $deadline) {
        $sel->can_read($deadline - time) or next;
        my $n = sysread($s, my $c, 65536);
        last unless $n;
        $buf .= $c;
    }
    my $i = index $buf, "\r\n\r\n";
    return (undef, $buf) unless $i >= 0 && $buf =~ m{^HTTP/1\.1 101 };
    ${*$s}{pds_buf} = substr($buf, $i + 4);
    return ($s, '');
}

# The frames the server sends within $secs (or until it closes): a list of
# [opcode, payload].  Data frames of the firehose are binary DAG-CBOR; a
# DID in them is its UTF-8 bytes, so a substring search finds it.
sub ws_frames {
    my ($s, $secs) = @_;
    my @frames;
    my $buf = ${*$s}{pds_buf} // '';
    my $sel = IO::Select->new($s);
    my $deadline = time + $secs;
    my $open = 1;
    while (1) {
        while (length $buf >= 2) {
            my ($b0, $b1) = unpack 'CC', $buf;
            my $len = $b1 & 0x7f;
            my $off = 2;
            if ($len == 126) {
                last if length $buf < 4;
                $len = unpack 'n', substr($buf, 2, 2);
                $off = 4;
            } elsif ($len == 127) {
                last if length $buf < 10;
                my ($h, $l) = unpack 'NN', substr($buf, 2, 8);
                $len = $h * 4294967296 + $l;
                $off = 10;
            }
            last if length $buf < $off + $len;
            push @frames, [$b0 & 0x0f, substr($buf, $off, $len)];
            substr($buf, 0, $off + $len) = '';
        }
        last unless $open;
        my $left = $deadline - time;
        last if $left <= 0;
        $sel->can_read($left) or next;
        my $n = sysread($s, my $c, 65536);
        if (!$n) { $open = 0; next }
        $buf .= $c;
    }
    ${*$s}{pds_buf} = $buf;
    return @frames;
}

sub ws_close {
    my ($s) = @_;
    my $mask = "\1\2\3\4";
    my $payload = pack('n', 1000) ^ substr($mask, 0, 2);
    syswrite $s, "\x88\x82$mask$payload";
    close $s;
}

# One server block of a multi-tenant configuration.  %t: name, hostname,
# domain (handle domain, with its dot), port, admin, jwt, key (64 hex),
# plc, dir, and optional listen (more listen lines), default, extra.
sub tenant_conf {
    my (%t) = @_;
    my $listen = "listen 127.0.0.1:$t{port}" . ($t{default} ? ' default_server' : '') . ';';
    $listen .= "\n        listen 127.0.0.1:$_;" for @{ $t{listen} || [] };
    return <<"END";
    server {
        $listen
        server_name $t{hostname} *$t{domain};
        pds_hostname $t{hostname};
        pds_port $t{port};
        pds_handle_domains $t{domain};
        pds_data_dir $t{dir}/data-$t{name};
        pds_admin_password $t{admin};
        pds_jwt_secret $t{jwt};
        pds_plc_rotation_key $t{key};
        pds_plc_url $t{plc};
        pds_thread_pool pds;
        pds_rate_limits off;
        @{[ $t{extra} // '' ]}
        location / { pds; }
    }
END
}

# An account through the admin's invite: the createAccount answer (with
# password added), or dies.  $url is http://127.0.0.1:PORT; $host the
# tenant's Host header.
sub new_account {
    my ($url, $host, $admin, $handle, $password) = @_;
    my %h = (Host => $host);
    my ($s, $inv) = http_json(POST => "$url/xrpc/com.atproto.server.createInviteCode",
                              { useCount => 1 },
                              { %h, Authorization => basic_auth('admin', $admin) });
    die "createInviteCode on $host: $s" unless $s == 200;
    (my $local = $handle) =~ s/\..*//;
    my ($s2, $acc) = http_json(POST => "$url/xrpc/com.atproto.server.createAccount",
                               { handle => $handle, email => "$local\@$host.example.com",
                                 password => $password, inviteCode => $inv->{code} }, \%h);
    die "createAccount $handle on $host: $s2 " . (ref $acc ? join(' ', %$acc) : $acc)
        unless $s2 == 200;
    $acc->{password} = $password;
    return $acc;
}

# pid and all its descendants (from /proc)
sub process_tree {
    my ($root) = @_;
    my %kids;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $line = <$fh> // '';
        close $fh;
        my ($pid, $ppid) = $line =~ /^(\d+) \(.*\) \S+ (\d+)/s or next;
        push @{ $kids{$ppid} }, $pid;
    }
    my @all = ($root);
    for (my $i = 0; $i < @all; $i++) {
        push @all, @{ $kids{ $all[$i] } || [] };
    }
    return @all;
}

# SIGKILL to a process and its descendants at once (master and workers)
sub kill_tree {
    my ($root) = @_;
    my @pids = process_tree($root);
    kill 'KILL', @pids;
    return @pids;
}

1;
