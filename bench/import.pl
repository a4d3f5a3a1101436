#!/usr/bin/perl
# How long com.atproto.repo.importRepo takes and what memory the nginx
# worker uses meanwhile, for repos of N records (default 1,000 and 10,000).
# Run by hand from the repository root after `make` (not a test: it times):
#
#   . /work/wt/tenv.sh          # or the TEST_ENV variables of t/README.md
#   nice perl bench/import.pl [N ...]
#
# One nginx (worker_processes 1, thread_pool pds threads=2) with two
# tenants, A and B, on one local PLC directory.  For each N: an account on A
# gets N app.bsky.feed.post records (applyWrites, 200 a call); its CAR is
# fetched with getRepo; an account with the same DID is made on B the way a
# migration does (service auth from A; it is deactivated until activated, so
# its import is written in steps); then the CAR is posted to B's
# importRepo while bench/mem.pl samples the worker every 5 ms.  Prints, per
# N: the CAR's size, the import's wall time (as the client sees it) and the
# worker's RSS and RssAnon (private heap) before the import, their peak
# during it and after it.  The worker serves both tenants, so its memory
# before the import includes what building the source repo left behind.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use Time::HiRes qw(time sleep);
use PDSTest qw(start_pds start_plc free_port http_json create_account basic_auth nginx_pids
               stop_all scratch_dir);

my @sizes = @ARGV ? @ARGV : (1000, 10000);
my $dir = scratch_dir();
my $portb = free_port();
my $plc = start_plc($dir) or die "no PLC directory (make node-deps)\n";
my $pds = start_pds(dir => $dir, plc => $plc, config => <<'CONF', http_config => <<"CONF2")
        pds_rate_limits off;
        pds_blob_upload_limit 200m;
        client_max_body_size 200m;
CONF
    server {
        listen 127.0.0.1:$portb;
        server_name pdsb.example;
        pds_hostname pdsb.example;
        pds_port $portb;
        pds_handle_domains .b.test;
        pds_data_dir $dir/data-b;
        pds_admin_password admin-b-$$;
        pds_jwt_secret jwt-b-$$;
        pds_plc_rotation_key 7a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9;
        pds_plc_url $plc;
        pds_thread_pool pds;
        pds_rate_limits off;
        pds_blob_upload_limit 200m;
        client_max_body_size 200m;
        location / { pds; }
    }
CONF2
    or die "no PLC directory (make node-deps)\n";
my $ua = $pds->{url};
my $ub = "http://127.0.0.1:$portb";
my %hb = (Host => 'pdsb.example');
my ($master, $worker) = nginx_pids($pds, 1);
$worker or die "no worker pid\n";

sub mem_now {
    my $out = `perl $FindBin::Bin/mem.pl $worker $dir`;
    my ($rss, $pss, $anon) = split ' ', $out;
    return ($rss, $anon);
}

printf "%-8s %10s %9s %11s %11s %11s %11s %11s %11s\n", 'records', 'CAR bytes', 'import s',
       'rss before', 'rss peak', 'rss after', 'anon before', 'anon peak', 'anon after';
my $i = 0;
for my $n (@sizes) {
    $i++;
    my $src = create_account($pds, handle => "src$i.test") or die "no account on A\n";
    my $did = $src->{did};
    my %auth = (Authorization => "Bearer $src->{accessJwt}");
    my $t0 = time;
    for (my $done = 0; $done < $n;) {
        my $k = $n - $done < 200 ? $n - $done : 200;
        my @w = map { { '$type' => 'com.atproto.repo.applyWrites#create',
                        collection => 'app.bsky.feed.post',
                        value => { '$type' => 'app.bsky.feed.post',
                                   text => "post number " . ($done + $_) . " of a repo of $n",
                                   createdAt => '2026-12-06T00:00:00.000Z' } } } 1 .. $k;
        my ($s, $b) = http_json(POST => "$ua/xrpc/com.atproto.repo.applyWrites",
                                { repo => $did, writes => \@w }, \%auth);
        die "applyWrites: $s " . (ref $b ? $b->{message} : $b) . "\n" unless $s == 200;
        $done += $k;
    }
    my $built = time - $t0;
    my ($s, undef, $res) = http_json(GET => "$ua/xrpc/com.atproto.sync.getRepo?did=$did");
    die "getRepo: $s\n" unless $s == 200;
    my $car = $res->{content};

    my ($sa, $tok) = http_json(GET => "$ua/xrpc/com.atproto.server.getServiceAuth?aud=did:web:pdsb.example"
                               . "&lxm=com.atproto.server.createAccount", undef, \%auth);
    my ($si, $inv) = http_json(POST => "$ub/xrpc/com.atproto.server.createInviteCode", { useCount => 1 },
                               { %hb, Authorization => basic_auth('admin', "admin-b-$$") });
    my ($sc, $acc) = http_json(POST => "$ub/xrpc/com.atproto.server.createAccount",
                               { did => $did, handle => "dst$i.b.test", email => "dst$i\@example.com",
                                 password => 'dst-password-1', inviteCode => $inv->{code} },
                               { %hb, Authorization => "Bearer $tok->{token}" });
    die "createAccount on B: $sc " . (ref $acc ? $acc->{message} : '') . "\n" unless $sc == 200;

    sleep 0.5;
    my @before = mem_now();
    my $peakf = "$dir/peak-$i";
    my $sampler = fork() // die;
    if ($sampler == 0) { exec 'perl', "$FindBin::Bin/mem.pl", $worker, $dir, $peakf, 0.005; exit 127 }
    sleep 0.3;
    $t0 = time;
    my ($si2, $ib) = http_json(POST => "$ub/xrpc/com.atproto.repo.importRepo", $car,
                               { %hb, Authorization => "Bearer $acc->{accessJwt}",
                                 'Content-Type' => 'application/vnd.ipld.car' });
    my $took = time - $t0;
    sleep 0.1;
    kill 'TERM', $sampler;
    waitpid $sampler, 0;
    die "importRepo: $si2 " . (ref $ib ? $ib->{message} : '') . "\n" unless $si2 == 200;
    my ($rssp, undef, $anonp) = split ' ', (-e $peakf ? `cat $peakf` : '0 0 0');
    my @after = mem_now();
    my ($sst, $st) = http_json(GET => "$ub/xrpc/com.atproto.server.checkAccountStatus", undef,
                               { %hb, Authorization => "Bearer $acc->{accessJwt}" });
    die "imported $st->{indexedRecords} records, not $n\n" unless $st->{indexedRecords} == $n;
    $rssp = $before[0] if $rssp < $before[0];
    $anonp = $before[1] if $anonp < $before[1];
    printf "%-8d %10d %9.2f %8d kB %8d kB %8d kB %8d kB %8d kB %8d kB   (source built in %.1f s)\n",
           $n, length $car, $took, $before[0], $rssp, $after[0], $before[1], $anonp, $after[1], $built;
}
stop_all();
