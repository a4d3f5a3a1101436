#!/usr/bin/perl
# Address space and memory of many tenants' LMDB maps in one nginx (#22).
#
#   bench/tenants-map.pl [N ...]        (default: 1 200 1000)
#   MAP=16m bench/tenants-map.pl 200    (the same with pds_lmdb_map_size)
#
# For each N: nginx with N tenants, no pds_lmdb_map_size (the default: a
# share of 32 TB among the tenants, 4-64 GB each) and one worker; after
# start, and after one request to every tenant's _health (each opens a read
# transaction), prints the worker's VmSize and VmRSS, the start-up time and
# the data.mdb files' apparent and allocated sizes.  Run from the checkout
# with the module built (build/ngx_pds_module.so); needs nothing else.
use strict;
use warnings;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use Time::HiRes qw(time sleep);

use Cwd qw(abs_path);
my $root = abs_path($ENV{PDS_ROOT} || '.');
my $module = "$root/build/ngx_pds_module.so";
my $nginx = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
-f $module or die "no $module: run make first\n";
my @ns = @ARGV ? @ARGV : (1, 200, 1000);

sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0) or die $!;
    my $p = $s->sockport;
    close $s;
    return $p;
}

sub status {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/status" or return {};
    my %s;
    while (<$fh>) { $s{$1} = $2 if /^(Vm\w+):\s+(\d+) kB/ }
    return \%s;
}

sub get {
    my ($port, $host, $path) = @_;
    my $c = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 5) or return 0;
    print $c "GET $path HTTP/1.0\r\nHost: $host\r\n\r\n";
    my $line = <$c> // '';
    close $c;
    return $line =~ /^HTTP\/\S+ (\d+)/ ? $1 : 0;
}

printf "%-8s %10s %14s %12s %10s %12s %14s %14s\n", 'tenants', 'map each', 'worker VmSize',
       'VmRSS', 'start s', 'RSS after', 'data.mdb each', 'on disk each';

for my $n (@ns) {
    my $dir = tempdir("/tmp/pds-tenants-XXXXXX", CLEANUP => 1);
    my $port = free_port();
    open my $fh, '>', "$dir/nginx.conf" or die $!;
    print $fh "load_module $module;\n" . ($> == 0 ? "user root;\n" : '') . "worker_processes 1;\npid $dir/nginx.pid;\n",
              "error_log $dir/error.log notice;\nevents { worker_connections 256; }\n",
              "http {\n  access_log off;\n  client_body_temp_path $dir/tmp;\n",
              "  proxy_temp_path $dir/tmp;\n  fastcgi_temp_path $dir/tmp;\n",
              "  uwsgi_temp_path $dir/tmp;\n  scgi_temp_path $dir/tmp;\n";
    for my $i (1 .. $n) {
        print $fh "  server { listen 127.0.0.1:$port; server_name t$i.example.com;\n",
                  "    pds_hostname t$i.example.com; pds_data_dir $dir/d$i;\n",
                  "    pds_admin_password admin-$i; pds_jwt_secret jwt-$i;\n",
                  "    pds_handle_domains .t$i.example.com;\n",
                  ($ENV{MAP} ? "    pds_lmdb_map_size $ENV{MAP};\n" : ''),
                  "    pds_plc_rotation_key 8a4b1c5e1b2b3a0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d;\n",
                  "    location / { pds; } }\n";
    }
    print $fh "}\n";
    close $fh;
    mkdir "$dir/tmp";

    my $t0 = time;
    system($nginx, '-p', $dir, '-c', "$dir/nginx.conf", '-e', "$dir/error.log") == 0
        or die "nginx did not start (see $dir/error.log)\n" . `tail -5 $dir/error.log`;
    my $ok = 0;
    for (1 .. 600) { last if ($ok = get($port, 't1.example.com', '/xrpc/_health')) == 200; sleep 0.05 }
    my $start = time - $t0;
    my $master = do { local (@ARGV, $/) = "$dir/nginx.pid"; <> } // '';
    chomp $master;
    my ($worker) = grep { /^\d+$/ } split ' ', `pgrep -P $master`;
    my $s0 = status($worker);
    my $healthy = 0;
    for my $i (1 .. $n) { $healthy++ if get($port, "t$i.example.com", '/xrpc/_health') == 200 }
    my $s1 = status($worker);
    my ($apparent, $alloc) = (0, 0);
    for my $i (1 .. $n) {
        my @st = stat "$dir/d$i/lmdb/data.mdb" or next;
        $apparent += $st[7];
        $alloc += $st[12] * 512;
    }
    my $each = $ENV{MAP} ? 0 : 32 * 1024 / $n;
    $each = 64 if $each > 64;
    $each = 4 if $each < 4 && !$ENV{MAP};
    printf "%-8d %8.1f GB %11.1f GB %9.1f MB %10.2f %9.1f MB %11.0f kB %11.0f kB  (%d/%d healthy)\n",
           $n, $each, ($s1->{VmSize} // 0) / 1024 / 1024, ($s0->{VmRSS} // 0) / 1024, $start,
           ($s1->{VmRSS} // 0) / 1024, $apparent / $n / 1024, $alloc / $n / 1024, $healthy, $n;
    system('kill', '-QUIT', $master);
    for (1 .. 200) { last unless kill 0, $master; sleep 0.05 }
}
