# com.atproto.repo.importRepo and listMissingBlobs, what can be shown
# within one PDS: the CAR is checked against the account's DID document
# (fetched from the PLC directory) before anything is written; another
# account's repo, garbage, a truncated CAR and an empty body are refused
# with XRPC errors and change nothing; an active account's repo is never
# rolled back to an older or equal export (the reference would do it);
# app passwords cannot import; a deactivated account's import of 2,200
# records, written in steps, is the repo it was.  The full migration
# between two servers is tested with the migration methods.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PDSTest qw(start_pds http_json stop_all log_problems create_account);

# (rate limits off: one account writes 2,200 records)
my $pds = start_pds(config => "        pds_rate_limits off;\n") or plan skip_all => 'no PLC directory (npm packages missing)';
my $u = $pds->{url};

my $a = create_account($pds, handle => 'ann.test') or die 'no account';
my $b = create_account($pds, handle => 'ben.test') or die 'no account';
my %auth_a = (Authorization => "Bearer $a->{accessJwt}");

sub post {
    my ($acct, $text) = @_;
    my ($s, $r) = http_json(POST => "$u/xrpc/com.atproto.repo.createRecord",
                            { repo => $acct->{did}, collection => 'app.bsky.feed.post',
                              record => { '$type' => 'app.bsky.feed.post', text => $text,
                                          createdAt => '2026-12-06T00:00:00.000Z' } },
                            { Authorization => "Bearer $acct->{accessJwt}" });
    return $s == 200 ? $r : undef;
}

sub car_of {
    my ($did) = @_;
    my ($s, undef, $res) = http_json(GET => "$u/xrpc/com.atproto.sync.getRepo?did=$did");
    return $s == 200 ? $res->{content} : undef;
}

sub import_car {
    my ($car, $headers) = @_;
    return http_json(POST => "$u/xrpc/com.atproto.repo.importRepo", $car,
                     { 'Content-Type' => 'application/vnd.ipld.car', %{ $headers || \%auth_a } });
}

sub head_of {
    my ($did) = @_;
    my ($s, $r) = http_json(GET => "$u/xrpc/com.atproto.sync.getLatestCommit?did=$did");
    return $r;
}

post($a, "ann $_") for 1 .. 5;
post($b, "ben $_") for 1 .. 3;

my $car_a = car_of($a->{did});
ok(defined $car_a && length $car_a > 100, 'ann\'s repo exported (' . length($car_a // '') . ' bytes)');
my $car_b = car_of($b->{did});
my $head = head_of($a->{did});

my ($s, $r) = import_car($car_a);
is($s, 400, 'importing the current state into the active account: refused');
is($r->{error}, 'InvalidRequest', '... InvalidRequest');
like($r->{message}, qr/active.*not newer/, '... not a rollback: ' . ($r->{message} // ''));

post($a, 'ann 6') or die;
my $head2 = head_of($a->{did});
($s, $r) = import_car($car_a);
is($s, 400, 'an older export of the active account: refused');
is_deeply(head_of($a->{did}), $head2, '... and the repo is as it was');

($s, $r) = import_car($car_b);
is($s, 400, 'another account\'s repo: refused');
like($r->{message}, qr/another account/, '... ' . ($r->{message} // ''));

($s, $r) = import_car('this is not a CAR file at all');
is($s, 400, 'garbage: 400');
is($r->{error}, 'InvalidRequest', '... InvalidRequest: ' . ($r->{message} // ''));

($s, $r) = import_car(substr($car_a, 0, int(length($car_a) / 2)));
is($s, 400, 'a truncated CAR: 400');
like($r->{message} // '', qr/CAR/, '... ' . ($r->{message} // ''));

($s, $r) = import_car('');
is($s, 400, 'no body: 400');

my $tampered = $car_a;
substr($tampered, -5, 1) = chr(ord(substr($tampered, -5, 1)) ^ 0x55);
($s, $r) = import_car($tampered);
is($s, 400, 'a block that does not match its CID: 400');

is_deeply(head_of($a->{did}), $head2, 'after all refusals the repo is unchanged');

# a deactivated account's import is written in steps of 2,000 records (one
# write transaction each): 2,200 records (2,768 blocks) cross a step of each
# kind; the repo is the same
# afterwards (commit, records, blocks) as checkAccountStatus counts it
my $c = create_account($pds, handle => 'cat.test') or die 'no account';
my %auth_c = (Authorization => "Bearer $c->{accessJwt}");
for (my $done = 0; $done < 2100; $done += 200) {
    my @w = map { { '$type' => 'com.atproto.repo.applyWrites#create', collection => 'app.bsky.feed.post',
                    value => { '$type' => 'app.bsky.feed.post', text => "cat " . ($done + $_),
                               createdAt => '2026-12-06T00:00:00.000Z' } } } 1 .. 200;
    ($s, $r) = http_json(POST => "$u/xrpc/com.atproto.repo.applyWrites",
                         { repo => $c->{did}, writes => \@w }, \%auth_c);
    $s == 200 or die "applyWrites: $s";
}
my ($scc0, $stc0) = http_json(GET => "$u/xrpc/com.atproto.server.checkAccountStatus", undef, \%auth_c);
is($stc0->{indexedRecords}, 2200, 'cat has 2,200 records');
my $car_c = car_of($c->{did});
($s, $r) = http_json(POST => "$u/xrpc/com.atproto.server.deactivateAccount", {}, \%auth_c);
is($s, 200, 'cat deactivates her account');
($s, $r) = import_car($car_c, \%auth_c);
is($s, 200, 'her CAR imported into the deactivated account, in steps') or diag explain $r;
my ($scc1, $stc1) = http_json(GET => "$u/xrpc/com.atproto.server.checkAccountStatus", undef, \%auth_c);
is_deeply([@$stc1{qw(repoCommit repoRev indexedRecords repoBlocks)}],
          [@$stc0{qw(repoCommit repoRev indexedRecords repoBlocks)}],
          "... the same commit, rev, records and blocks ($stc1->{indexedRecords}, $stc1->{repoBlocks})");
($s, $r) = http_json(POST => "$u/xrpc/com.atproto.server.activateAccount", {}, \%auth_c);
is($s, 200, '... activated again');
is(car_of($c->{did}), $car_c, '... and getRepo gives the same CAR');

# app passwords cannot import
($s, $r) = http_json(POST => "$u/xrpc/com.atproto.server.createAppPassword",
                     { name => 'imp' }, \%auth_a);
my ($s2, $sess) = http_json(POST => "$u/xrpc/com.atproto.server.createSession",
                            { identifier => $a->{did}, password => $r->{password} // 'x' });
($s, $r) = import_car(car_of($a->{did}), { Authorization => "Bearer $sess->{accessJwt}" });
ok($s >= 400 && $s < 500, "an app password session cannot import ($s)");
ok(ref $r eq 'HASH' && $r->{error}, '... with an XRPC error: ' . (ref $r eq 'HASH' ? $r->{error} // '' : ''));

($s, $r) = http_json(POST => "$u/xrpc/com.atproto.repo.importRepo", 'x',
                     { 'Content-Type' => 'application/vnd.ipld.car' });
is($s, 401, 'no token: 401');

# listMissingBlobs: nothing missing for an account that uploaded its blobs
($s, $r) = http_json(GET => "$u/xrpc/com.atproto.repo.listMissingBlobs", undef, \%auth_a);
is($s, 200, 'listMissingBlobs');
is_deeply($r, { blobs => [] }, '... none missing');
($s, $r) = http_json(GET => "$u/xrpc/com.atproto.repo.listMissingBlobs?limit=0", undef, \%auth_a);
is($s, 400, 'limit 0: 400');
($s, $r) = http_json(GET => "$u/xrpc/com.atproto.repo.listMissingBlobs?cursor=nope", undef, \%auth_a);
is($s, 400, 'a bad cursor: 400');
($s, $r) = http_json(GET => "$u/xrpc/com.atproto.repo.listMissingBlobs");
is($s, 401, 'no token: 401');

stop_all();
is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes');
done_testing();
