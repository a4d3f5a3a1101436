# Write rate limits (the reference's points: create 3, update 2, delete 1;
# 5000 an hour per account), shared by all workers, with ratelimit headers.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use PDSTest qw(start_pds http_json stop_all log_problems create_account);

my $pds = start_pds(workers => 2) or plan skip_all => 'no PLC directory';
my $u = $pds->{url};
my $acct = create_account($pds, handle => 'joan.test');
ok($acct, 'account created');
my $s;
my %auth = (Authorization => "Bearer $acct->{accessJwt}");

my $n = 0;
sub batch {
    my @writes = map { { '$type' => 'com.atproto.repo.applyWrites#create',
                         collection => 'app.bsky.feed.like', rkey => sprintf('l%06d', $n++),
                         value => { subject => { uri => "at://$acct->{did}/app.bsky.feed.post/x",
                                                 cid => 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm' },
                                    createdAt => '2026-11-24T00:00:00.000Z' } } } 1 .. 200;
    return http_json(POST => "$u/xrpc/com.atproto.repo.applyWrites",
                     { repo => $acct->{did}, validate => JSON::PP::false(),
                       writes => \@writes }, \%auth);
}

# 8 batches of 200 creates = 4800 points, on whichever worker takes them
my $res;
for (1 .. 8) {
    ($s, undef, $res) = batch();
    last if $s != 200;
}
is($s, 200, '4800 points are allowed');
is($res->{headers}{'ratelimit-limit'}, 5000, 'RateLimit-Limit');
is($res->{headers}{'ratelimit-remaining'}, 200, 'RateLimit-Remaining counts down');
is($res->{headers}{'ratelimit-policy'}, '5000;w=3600', 'RateLimit-Policy');

($s, my $b) = batch();
is($s, 429, 'the next 600 points are refused');
is($b->{error}, 'RateLimitExceeded', '... RateLimitExceeded');

($s, $b) = http_json(POST => "$u/xrpc/com.atproto.repo.createRecord",
                     { repo => $acct->{did}, collection => 'app.bsky.feed.post',
                       record => { text => 'x', createdAt => '2026-11-24T00:00:00.000Z' } }, \%auth);
is($s, 200, 'a single create (3 points) still fits');
($s, $b) = http_json(GET => "$u/xrpc/com.atproto.repo.listRecords?repo=joan.test&collection=app.bsky.feed.like&limit=1");
is($b->{records}[0]{uri} =~ /l001599$/ ? 1 : 0, 1, 'the refused batch wrote nothing');

stop_all();
is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes');
done_testing();
