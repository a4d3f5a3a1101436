# Group commit under concurrency: 8 clients write at once to two nginx
# workers (so batches meet LMDB's write lock held by the other worker);
# every acknowledged write is there, each with its own commit, and the
# revs of the account's commits are all different and increasing.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use POSIX ();
use PDSTest qw(start_pds http_json stop_all log_problems json create_account);

my $pds = start_pds(workers => 2, config => <<'CONF')
        pds_rate_limits off;
CONF
    or plan skip_all => 'no PLC directory (npm packages missing)';
my $u = $pds->{url};
my $acct = create_account($pds, handle => 'many.test');
ok($acct, 'account') or BAIL_OUT('no account');
my $s;

my ($clients, $each) = (8, 60);
my @pids;
for my $c (1 .. $clients) {
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        my @acks;
        for my $i (1 .. $each) {
            my ($st, $b) = http_json(POST => "$u/xrpc/com.atproto.repo.createRecord",
                                     { repo => $acct->{did}, collection => 'app.bsky.feed.post',
                                       record => { text => "client $c write $i",
                                                   createdAt => '2026-11-24T00:00:00.000Z' } },
                                     { Authorization => "Bearer $acct->{accessJwt}" });
            push @acks, { status => $st, uri => $b->{uri}, rev => $b->{commit}{rev} } ;
        }
        open my $fh, '>', "$pds->{dir}/client$c.json";
        print $fh json()->encode(\@acks);
        close $fh;
        POSIX::_exit(0);
    }
    push @pids, $pid;
}
waitpid $_, 0 for @pids;

my @acks = map { @{ json()->decode(PDSTest::slurp("$pds->{dir}/client$_.json")) } } 1 .. $clients;
is(scalar(grep { $_->{status} == 200 } @acks), $clients * $each, 'every write acknowledged');
my %revs = map { ($_->{rev} // '') => 1 } @acks;
is(scalar keys %revs, $clients * $each, 'each write its own commit (distinct revs)');

my %stored;
my $cursor;
do {
    my $q = "repo=$acct->{did}&collection=app.bsky.feed.post&limit=100" . ($cursor ? "&cursor=$cursor" : '');
    (undef, my $page) = http_json(GET => "$u/xrpc/com.atproto.repo.listRecords?$q");
    $stored{$_->{uri}} = 1 for @{ $page->{records} };
    $cursor = @{ $page->{records} } == 100 ? $page->{cursor} : undef;
} while ($cursor);
is(scalar(grep { $stored{$_->{uri}} } @acks), $clients * $each, 'every acknowledged record is stored');

($s, my $latest) = http_json(GET => "$u/xrpc/com.atproto.sync.getLatestCommit?did=$acct->{did}");
my ($max) = sort { $b cmp $a } keys %revs;
is($latest->{rev}, $max, 'the repo head is the newest acknowledged commit');

stop_all();
is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes');
done_testing();
