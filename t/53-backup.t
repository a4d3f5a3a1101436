# Hot backup and restore of a tenant (build/pds-backup, as tools/pdsadmin
# runs it): a backup taken while 8 writers run, restored into a fresh data
# directory and served by a second nginx: every repo and the event log
# verify in the core (pds_repo_cli verify), every repo verifies with
# @atproto/repo and holds every write acknowledged before the backup began,
# every blob uploaded before it is served with its bytes, and the event
# sequence goes on from the backup's last number.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use POSIX ();
use Time::HiRes qw(time sleep);
use PDSTest qw(start_pds http_json stop_all log_problems create_account slurp
               scratch_dir json need_node node_tap);

my $build = $ENV{PDS_BUILD_DIR} || 'build';
-x "$build/pds-backup" or plan skip_all => "$build/pds-backup is not built";

my $pds = start_pds() or plan skip_all => 'no PLC directory (npm packages missing)';
my $u = $pds->{url};
my $dir = $pds->{dir};

my @acc = map { create_account($pds, handle => "back$_.test") or die 'no account' } 1 .. 4;

# before the backup: posts and blobs
my %blobs;     # cid -> bytes
for my $i (0 .. $#acc) {
    my $a = $acc[$i];
    for my $j (1 .. 3) {
        my $bytes = join '', map { chr(($i * 31 + $j * 7 + $_) % 256) } 1 .. 2000 + $j;
        my ($s, $b) = http_json(POST => "$u/xrpc/com.atproto.repo.uploadBlob", $bytes,
                                { Authorization => "Bearer $a->{accessJwt}",
                                  'Content-Type' => 'image/png' });
        $s == 200 or die "uploadBlob: $s";
        $blobs{ $b->{blob}{ref}{'$link'} } = [ $a->{did}, $bytes ];
        ($s, $b) = http_json(POST => "$u/xrpc/com.atproto.repo.createRecord",
                         { repo => $a->{did}, collection => 'app.bsky.feed.post',
                           record => { '$type' => 'app.bsky.feed.post', text => "with a blob $j",
                                       createdAt => '2026-12-06T00:00:00.000Z',
                                       embed => { '$type' => 'app.bsky.embed.images',
                                                  images => [ { alt => '', image => $b->{blob} } ] } } },
                         { Authorization => "Bearer $a->{accessJwt}" });
        $s == 200 or die "createRecord: $s " . json()->encode($b // {});
    }
}

# 8 writers, each write recorded with the time its answer came
sub writer {
    my ($c, $a, $deadline) = @_;
    open my $fh, '>>', "$dir/acks-$c.jsonl" or die;
    $fh->autoflush(1);
    my $i = 0;
    while (time < $deadline) {
        $i++;
        my ($st, $b) = http_json(POST => "$u/xrpc/com.atproto.repo.createRecord",
                                 { repo => $a->{did}, collection => 'app.bsky.feed.post',
                                   record => { '$type' => 'app.bsky.feed.post', text => "w$c $i",
                                               createdAt => '2026-12-06T00:00:00.000Z' } },
                                 { Authorization => "Bearer $a->{accessJwt}" });
        print $fh json()->encode({ did => $a->{did}, uri => $b->{uri}, cid => $b->{cid},
                                   at => time }), "\n"
            if $st == 200 && ref $b;
    }
    close $fh;
    POSIX::_exit(0);
}

my $deadline = time + 6;
my @pids;
for my $c (1 .. 8) {
    my $pid = fork() // die "fork: $!";
    writer($c, $acc[($c - 1) % @acc], $deadline) if $pid == 0;
    push @pids, $pid;
}

sleep 2;
my $backup = scratch_dir() . '/backup';
my $started = time;
my $out = `$build/pds-backup $dir/data $backup 2>&1`;
my $took = time - $started;
is($? >> 8, 0, sprintf('pds-backup while 8 writers run (%.2f s)', $took)) or diag $out;
my $stats = eval { json()->decode($out) } || {};
is($stats->{accounts}, 4, 'the backup has the 4 accounts');
cmp_ok($stats->{blobs}, '>=', 12, "... and their blobs ($stats->{blobs})");
is($stats->{missing}, 0, '... none missing');
cmp_ok($stats->{lastSeq}, '>', 0, "... up to event $stats->{lastSeq}");

waitpid $_, 0 for @pids;

my (%acks, $during, $before);
for my $c (1 .. 8) {
    for my $line (split /\n/, slurp("$dir/acks-$c.jsonl")) {
        my $a = json()->decode($line);
        if ($a->{at} < $started) {
            (my $path = $a->{uri}) =~ s{^at://[^/]+/}{};
            $acks{ $a->{did} }{$path} = $a->{cid};
            $before++;
        } else {
            $during++;
        }
    }
}
cmp_ok($before, '>', 20, "writes acknowledged before the backup began: $before (and $during after)");
is(scalar(grep { !/^\./ } glob("$backup/*")), 2, 'the backup is a data directory: lmdb/ and blobs/');

# the core's own check of the copy
my $verify = `$build/t/pds_repo_cli verify $backup/lmdb 2>&1`;
like($verify, qr/^ok 4 \d+/, "pds_repo_cli verify: every repo and the event log ($verify)");

# restore: the backup copied into a fresh data directory, a second nginx
my $dir2 = scratch_dir();
system('cp', '-a', $backup, "$dir2/data") == 0 or die 'cp';
my $pds2 = start_pds(dir => $dir2, plc => $pds->{plc}) or die 'no restored PDS';
my $u2 = $pds2->{url};

for my $cid (sort keys %blobs) {
    my ($did, $bytes) = @{ $blobs{$cid} };
    my ($s, undef, $res) = http_json(GET => "$u2/xrpc/com.atproto.sync.getBlob?did=$did&cid=$cid");
    is($s, 200, "restored: getBlob $cid");
    ok($res->{content} eq $bytes, '... the same bytes');
}

# every repo with @atproto/repo, with every write acknowledged before
SKIP: {
    skip 'node or npm packages missing', 1 unless need_node();
    open my $fh, '>', "$dir2/acks.json" or die;
    print $fh json()->encode(\%acks);
    close $fh;
    node_tap('server_kill_verify.mjs', PDS_URL => $u2, PLC_URL => $pds->{plc},
             ACKS => "$dir2/acks.json");
}

# the event sequence goes on from the backup's last number
my $a = $acc[0];
my ($s, $sess) = http_json(POST => "$u2/xrpc/com.atproto.server.createSession",
                           { identifier => $a->{did}, password => $a->{password} });
is($s, 200, 'restored: the account signs in');
($s) = http_json(POST => "$u2/xrpc/com.atproto.repo.createRecord",
                 { repo => $a->{did}, collection => 'app.bsky.feed.post',
                   record => { '$type' => 'app.bsky.feed.post', text => 'after restore',
                               createdAt => '2026-12-06T00:00:00.000Z' } },
                 { Authorization => "Bearer $sess->{accessJwt}" });
is($s, 200, 'restored: a new post');
stop_all();
my @events = split /\n/, `$build/t/pds_repo_cli events $dir2/data/lmdb 2>&1`;
my ($last) = $events[-1] =~ /^(\d+) /;
is($last, $stats->{lastSeq} + 1, "the new post's event is number " . ($stats->{lastSeq} + 1));

is_deeply([log_problems($pds->{log}), log_problems($pds2->{log})], [], 'no alerts or crashes');
done_testing();
