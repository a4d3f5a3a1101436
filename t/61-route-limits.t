# The reference's route rate limits (on by default, as pds_rate_limits):
# createSession 30 per 5 minutes per identifier and address, createAccount
# 100 per 5 minutes per address, requestPasswordReset 15 an hour per
# address, updateHandle 10 per 5 minutes per account, uploadBlob 1000 a
# day per address.  The call over the limit answers 429 RateLimitExceeded
# with RateLimit-* and Retry-After headers; other keys are not affected;
# each tenant counts its own; `pds_rate_limits off` turns them off.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PDSTest qw(start_pds http_json stop_all log_problems create_account);

my $pds = start_pds(workers => 2) or plan skip_all => 'no PLC directory (npm packages missing)';
my $u = $pds->{url};
my $off = start_pds(plc => $pds->{plc}, config => 'pds_rate_limits off;');

sub headers_of {
    my ($method, $url, $body, $h) = @_;
    my ($st, $bd, $res) = http_json($method, $url, $body, $h);
    return ($st, $bd, $res->{headers});
}

my $ann = create_account($pds, handle => 'ann.test', password => 'ann-password');
my $bob = create_account($pds, handle => 'bob.test', password => 'bob-password');
ok($ann && $bob, 'two accounts');

# ---- createSession: 30 per 5 minutes per identifier and address
my ($s, $b, $h);
my @st;
for my $i (1 .. 30) {
    ($s, $b, $h) = headers_of(POST => "$u/xrpc/com.atproto.server.createSession",
                              { identifier => 'ann.test', password => 'wrong' });
    push @st, $s;
}
is_deeply([ grep { $_ != 401 } @st ], [], '30 wrong passwords: each 401 AuthenticationRequired');
is($h->{'ratelimit-policy'}, '30;w=300', 'RateLimit-Policy: the 5-minute window');
is($h->{'ratelimit-remaining'}, '0', 'RateLimit-Remaining: 0 after 30');
($s, $b, $h) = headers_of(POST => "$u/xrpc/com.atproto.server.createSession",
                          { identifier => 'ann.test', password => 'ann-password' });
is_deeply([$s, $b->{error}, $b->{message}], [429, 'RateLimitExceeded', 'Rate Limit Exceeded'],
          'the 31st, even with the right password: 429 RateLimitExceeded');
like($h->{'retry-after'} // '', qr/^\d+$/, 'with Retry-After');
ok(($h->{'retry-after'} // 0) >= 1 && ($h->{'retry-after'} // 999) <= 300, 'Retry-After within the window');
like($h->{'ratelimit-reset'} // '', qr/^\d{10}$/, 'RateLimit-Reset: a time');
($s) = headers_of(POST => "$u/xrpc/com.atproto.server.createSession",
                  { identifier => 'bob.test', password => 'bob-password' });
is($s, 200, 'another identifier from the same address still signs in');
($s, $b) = headers_of(POST => "$u/xrpc/com.atproto.server.createSession",
                      { identifier => 'ANN.test', password => 'ann-password' });
is_deeply([$s, $b->{error}], [429, 'RateLimitExceeded'],
          'the same identifier in other letter cases shares the counter (no fresh guesses per spelling; '
          . 'the reference keys it as given)');
($s) = headers_of(POST => "$u/xrpc/com.atproto.server.createSession",
                  { identifier => 'aNn.TEST', password => 'wrong' });
is($s, 429, 'any spelling of it');

# ---- requestPasswordReset: 15 an hour per address
@st = ();
for my $i (1 .. 15) {
    ($s) = headers_of(POST => "$u/xrpc/com.atproto.server.requestPasswordReset",
                      { email => "nobody$i\@example.com" });
    push @st, $s;
}
is_deeply([ grep { $_ != 200 } @st ], [], '15 password reset requests answer 200');
($s, $b, $h) = headers_of(POST => "$u/xrpc/com.atproto.server.requestPasswordReset",
                          { email => 'ann@example.com' });
is_deeply([$s, $b->{error}], [429, 'RateLimitExceeded'], 'the 16th in the hour: 429');
is($h->{'ratelimit-policy'}, '15;w=3600', 'the hour window is the one refused');

# ---- updateHandle: 10 per 5 minutes per account
my %auth = (Authorization => "Bearer $bob->{accessJwt}");
@st = ();
for my $i (1 .. 10) {
    ($s, $b) = headers_of(POST => "$u/xrpc/com.atproto.identity.updateHandle",
                          { handle => 'bob' . ($i % 2 ? 'by' : '') . '.test' }, \%auth);
    push @st, $s;
}
is_deeply([ grep { $_ != 200 } @st ], [], '10 handle updates answer 200');
($s, $b) = headers_of(POST => "$u/xrpc/com.atproto.identity.updateHandle",
                      { handle => 'bobby.test' }, \%auth);
is_deeply([$s, $b->{error}], [429, 'RateLimitExceeded'], 'the 11th: 429');
($s, $b) = headers_of(POST => "$u/xrpc/com.atproto.identity.updateHandle",
                      { handle => 'annie.test' }, { Authorization => "Bearer $ann->{accessJwt}" });
is($s, 200, 'another account still updates its handle');

# ---- createAccount: 100 per 5 minutes per address (refused attempts count)
@st = ();
for my $i (1 .. 98) {    # ann's and bob's were the first two
    ($s) = headers_of(POST => "$u/xrpc/com.atproto.server.createAccount",
                      { handle => 'a.test', email => "x$i\@example.com", password => 'pw-pw-pw' });
    push @st, $s;
}
is_deeply([ grep { $_ != 400 } @st ], [], '98 more attempts with a handle too short: 400 each');
($s, $b, $h) = headers_of(POST => "$u/xrpc/com.atproto.server.createAccount",
                          { handle => 'late.test', email => 'late@example.com', password => 'pw-pw-pw' });
is_deeply([$s, $b->{error}], [429, 'RateLimitExceeded'], 'the 101st: 429');
is($h->{'ratelimit-policy'}, '100;w=300', 'RateLimit-Policy 100;w=300');

# ---- uploadBlob: 1000 a day per address
my %ann_auth = (Authorization => "Bearer $ann->{accessJwt}", 'Content-Type' => 'text/plain');
@st = ();
for my $i (1 .. 1000) {
    ($s) = headers_of(POST => "$u/xrpc/com.atproto.repo.uploadBlob", "blob $i", \%ann_auth);
    push @st, $s;
}
is(scalar(grep { $_ == 200 } @st), 1000, '1000 uploads in a day answer 200');
($s, $b, $h) = headers_of(POST => "$u/xrpc/com.atproto.repo.uploadBlob", 'one more', \%ann_auth);
is_deeply([$s, $b->{error}], [429, 'RateLimitExceeded'], 'the 1001st: 429');
is($h->{'ratelimit-policy'}, '1000;w=86400', 'RateLimit-Policy 1000;w=86400');

# ---- a limit of one tenant does not touch another; off means off
SKIP: {
    skip 'second PDS did not start', 3 unless $off;
    my $carl = create_account($off, handle => 'carl.test', password => 'carl-password');
    @st = ();
    for my $i (1 .. 40) {
        ($s, $b, $h) = headers_of(POST => "$off->{url}/xrpc/com.atproto.server.createSession",
                                  { identifier => 'carl.test', password => 'wrong' });
        push @st, $s;
    }
    is_deeply([ grep { $_ != 401 } @st ], [], 'pds_rate_limits off: 40 wrong passwords, no 429');
    ok(!exists $h->{'ratelimit-limit'}, 'and no RateLimit headers');
    ($s) = headers_of(POST => "$off->{url}/xrpc/com.atproto.server.createSession",
                      { identifier => 'carl.test', password => 'carl-password' });
    is($s, 200, 'the right password then signs in');
}

is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes in the error log');
stop_all();
done_testing();
