# The firehose's count bound (pds_firehose_backfill_events,
# sync/ngx_pds_retention.c): beyond the newest N events the oldest are
# removed by the retention passes, whatever the backfill window, in the same
# small transactions; a cursor before them gets #info OutdatedCursor and
# the replay starts at the oldest event kept; the pages they held are
# reused.  N is 50 here; the window is 60 s (a pass every 15 s), longer
# than the events live before the bound removes them; events of the last
# 10 s always stay.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use PDSTest qw(start_pds http_json stop_all log_problems create_account slurp);
use PDSFuzz qw(ws_open ws_frames ws_close);

my $pds = start_pds(workers => 2, config => <<'CONF')
        pds_firehose_backfill 60s;
        pds_firehose_backfill_events 50;
CONF
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
    my @f = map { $_->[1] } grep { $_->[0] == 2 } ws_frames($ws, 1.5);
    ws_close($ws);
    return \@f;
}

# events removed so far, by the count bound and by the window
sub removed {
    my ($which) = @_;
    my $log = slurp($pds->{log});
    my $re = $which eq 'bound'
        ? qr/pds: (\d+) firehose events of "localhost" beyond the newest 50 \(pds_firehose_backfill_events\) removed/
        : qr/pds: (\d+) firehose events of "localhost" (?:older|beyond)/;
    my $n = 0;
    $n += $1 while $log =~ /$re/g;
    return $n;
}

sub wait_removed {
    my ($which, $at_least, $secs) = @_;
    my $t0 = time;
    while (time - $t0 < $secs) {
        return 1 if removed($which) >= $at_least;
        sleep 0.25;
    }
    return 0;
}

my $acc = create_account($pds, handle => 'nora.test');
ok($acc, 'an account') or BAIL_OUT('no account');

my $ok = 0;
$ok += (post($acc, sprintf 'p-%03d', $_))[0] == 200 ? 1 : 0 for 1 .. 120;
is($ok, 120, '120 posts (and the account\'s own events): over the bound of 50');

my ($f, $why) = frames_from(0);
ok($f, 'subscribeRepos from cursor 0') or diag $why;
ok((grep { index($_, 'p-001') >= 0 } @$f), 'before a pass every event replays');

ok(wait_removed('bound', 70, 40), 'the count bound removed the oldest (' . removed('bound') . ')')
    or diag slurp($pds->{log});
is(removed('any'), removed('bound'), 'none by the window (60 s)');

($f, $why) = frames_from(0);
ok($f, 'subscribeRepos from cursor 0 again') or diag $why;
ok(@$f && index($f->[0], 'OutdatedCursor') >= 0, 'the first frame is #info OutdatedCursor');
is(scalar @$f, 51, 'then the newest 50 events, no more') or diag scalar @$f;
ok(@$f > 1 && index($f->[1], 'p-071') >= 0, 'starting at the oldest kept (post 71)');
ok(!(grep { index($_, 'p-070') >= 0 } @$f), 'post 70\'s event is gone');
ok(index($f->[-1], 'p-120') >= 0, 'ending at the newest');

my ($st, $r) = call(GET => 'com.atproto.repo.listRecords', undef, undef,
                    "repo=$acc->{did}&collection=app.bsky.feed.post&limit=100");
is($st, 200, 'listRecords');
is(scalar @{ $r->{records} || [] }, 100, 'the records are untouched (a page of 100)');

# a live subscriber still sees new events
my ($ws) = ws_open($pds->{port}, 'localhost', '');
ok($ws, 'a live subscriber');
post($acc, 'live-1');
my @live = map { $_->[1] } grep { $_->[0] == 2 } ws_frames($ws, 1.0);
ws_close($ws) if $ws;
ok((grep { index($_, 'live-1') >= 0 } @live), 'live events flow');

# pages are reused: rounds of 100 posts each deleted again (200 events a
# round, ~1 kB each, and no records left behind) go back down to 50
# events; the file stays about the same size instead of growing by the
# events' bytes
my $mdb = "$pds->{dir}/data/lmdb/data.mdb";
sub churn {
    my ($tag) = @_;
    my $n = 0;
    for my $i (1 .. 100) {
        my ($s, $b) = post($acc, "$tag-$i" . ('x' x 280));
        next unless $s == 200;
        my ($rkey) = $b->{uri} =~ m{([^/]+)$};
        ($s) = call(POST => 'com.atproto.repo.deleteRecord',
                    { repo => $acc->{did}, collection => 'app.bsky.feed.post',
                      rkey => $rkey }, $acc->{accessJwt});
        $n++ if $s == 200;
    }
    return $n;
}

is(churn('a'), 100, 'first round: 100 posts made and deleted');
my $before = removed('any');
ok(wait_removed('any', $before + 190, 40), 'trimmed back to the bound');
my $size1 = -s $mdb;
is(churn('b'), 100, 'second round: 100 more');
ok(wait_removed('any', $before + 390, 40), 'trimmed back again');
is(churn('c'), 100, 'third round: 100 more');
ok(wait_removed('any', $before + 590, 40), 'trimmed back again');
my $size2 = -s $mdb;
cmp_ok($size2, '<=', $size1 + 192 * 1024,
       "400 events of ~1 kB written, the data file grew by at most 192 kB "
       . "($size1 -> $size2 bytes): freed pages reused");

my @problems = log_problems($pds->{log});
is(scalar @problems, 0, 'no alerts or crashes in the error log') or diag join "\n", @problems;

stop_all();
done_testing();
