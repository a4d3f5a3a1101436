# Firehose event retention (sync/ngx_pds_retention.c): events older than the
# backfill window are removed in small transactions by one worker; a
# cursor from before them gets #info OutdatedCursor and the replay starts
# at the first event kept; repos and reads are untouched; the pages the
# removed events held are reused, so a PDS that writes and deletes at a
# steady pace does not grow.  The window is 2 s here; events of the last
# 10 s always stay (live subscribers read from the table).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use PDSTest qw(start_pds http_json stop_all log_problems create_account slurp);
use PDSFuzz qw(ws_open ws_frames ws_close);

my $pds = start_pds(workers => 2, config => 'pds_firehose_backfill 2s;')
    or plan skip_all => 'no PLC directory (npm packages missing)';
my $u = $pds->{url};

sub call {
    my ($method, $nsid, $body, $token, $params) = @_;
    my $h = $token ? { Authorization => "Bearer $token" } : {};
    return http_json($method, "$u/xrpc/$nsid" . ($params ? "?$params" : ''), $body, $h);
}

sub post {
    my ($acc, $text) = @_;
    return call(POST => 'com.atproto.repo.createRecord',
                { repo => $acc->{did}, collection => 'app.bsky.feed.post',
                  record => { '$type' => 'app.bsky.feed.post', text => $text,
                              createdAt => '2026-01-01T00:00:00.000Z' } },
                $acc->{accessJwt});
}

# binary frames from ?cursor=$cursor (read for a second)
sub frames_from {
    my ($cursor) = @_;
    my ($ws, $why) = ws_open($pds->{port}, 'localhost', "?cursor=$cursor");
    return (undef, $why) unless $ws;
    my @f = map { $_->[1] } grep { $_->[0] == 2 } ws_frames($ws, 1.0);
    ws_close($ws);
    return \@f;
}

# how many events the log says were removed so far
sub removed_so_far {
    my $n = 0;
    my $log = slurp($pds->{log});
    $n += $1 while $log =~ /pds: (\d+) firehose events of "localhost" older/g;
    return $n;
}

sub wait_removed {
    my ($at_least, $secs) = @_;
    my $t0 = time;
    while (time - $t0 < $secs) {
        return 1 if removed_so_far() >= $at_least;
        sleep 0.25;
    }
    return 0;
}

my $acc = create_account($pds, handle => 'olga.test', password => 'olga-password');
ok($acc, 'an account') or BAIL_OUT('no account');

my $ok = 0;
$ok += (post($acc, "old-$_"))[0] == 200 ? 1 : 0 for 1 .. 20;
is($ok, 20, '20 posts');

my ($f, $why) = frames_from(0);
ok($f, 'subscribeRepos from cursor 0') or diag $why;
ok((grep { index($_, 'old-1') >= 0 } @$f), 'the early events replay while inside the window');
ok(!(grep { index($_, 'OutdatedCursor') >= 0 } @$f), '... without OutdatedCursor');

# the events are older than the window after 2 s, and than the floor after 10 s
ok(wait_removed(20, 25), 'old events removed by the retention pass (' . removed_so_far() . ')')
    or diag slurp($pds->{log});

my ($st, $r) = post($acc, 'new-1');
is($st, 200, 'a post after the removal');

($f, $why) = frames_from(0);
ok($f, 'subscribeRepos from cursor 0 again') or diag $why;
ok(@$f && index($f->[0], 'OutdatedCursor') >= 0, 'the first frame is #info OutdatedCursor');
ok(!(grep { index($_, 'old-') >= 0 } @$f), 'no removed event replayed');
ok((grep { index($_, 'new-1') >= 0 } @$f), 'the kept event replayed');

($st, $r) = call(GET => 'com.atproto.repo.listRecords', undef, undef,
                 "repo=$acc->{did}&collection=app.bsky.feed.post&limit=100");
is($st, 200, 'listRecords');
is(scalar @{ $r->{records} || [] }, 21, 'every record is still there');

my ($hs) = http_json(GET => "$u/xrpc/com.atproto.sync.getRepo?did=$acc->{did}");
is($hs, 200, 'getRepo still answers');

($st, $r) = call(GET => 'com.atproto.sync.getLatestCommit', undef, undef, "did=$acc->{did}");
is($st, 200, 'getLatestCommit');

# a cursor inside what is kept: no OutdatedCursor
my ($ws) = ws_open($pds->{port}, 'localhost', '');
ok($ws, 'a live subscriber');
post($acc, 'live-1');
my @live = map { $_->[1] } grep { $_->[0] == 2 } ws_frames($ws, 1.0);
ws_close($ws) if $ws;
ok((grep { index($_, 'live-1') >= 0 } @live), 'live events still flow');
ok(!(grep { index($_, 'OutdatedCursor') >= 0 } @live), '... without OutdatedCursor');

# pages are reused: write and delete at a steady pace, twice
my $mdb = "$pds->{dir}/data/lmdb/data.mdb";
sub churn {
    my ($tag) = @_;
    my $n = 0;
    for my $i (1 .. 150) {
        my ($s, $rr) = post($acc, "$tag-$i" . ('x' x 250));
        next unless $s == 200;
        my ($rkey) = $rr->{uri} =~ m{/([^/]+)$};
        my ($d) = call(POST => 'com.atproto.repo.deleteRecord',
                       { repo => $acc->{did}, collection => 'app.bsky.feed.post', rkey => $rkey },
                       $acc->{accessJwt});
        $n++ if $d == 200;
    }
    return $n;
}

is(churn('a'), 150, 'first round: 150 posts written and deleted');
my $before = removed_so_far();
ok(wait_removed($before + 300, 25), 'its 300 events removed');
my $size1 = -s $mdb;
is(churn('b'), 150, 'second round: 150 more written and deleted');
ok(wait_removed($before + 600, 25), 'their events removed too');
my $size2 = -s $mdb;
cmp_ok($size2, '<=', $size1 + 256 * 1024,
       "the data file did not grow much ($size1 -> $size2 bytes): freed pages reused");

my @problems = log_problems($pds->{log});
is(scalar @problems, 0, 'no alerts or crashes in the error log') or diag join "\n", @problems;

stop_all();
done_testing();
