# Identity: updateHandle (a signed PLC update through nginx), resolveHandle,
# the well-known document, getRecommendedDidCredentials, describeRepo.
# Answers that need no account are data-driven blocks in t/03-identity.t
# and t/04-repo.t.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PDSTest qw(start_pds http_json stop_all log_problems create_account);

my $pds = start_pds() or plan skip_all => 'no PLC directory (npm packages missing)';
my $u = $pds->{url};

my $k = create_account($pds, handle => 'kate.test') or die 'no account';
my $l = create_account($pds, handle => 'liam.test') or die 'no account';
my %auth = (Authorization => "Bearer $k->{accessJwt}");

# the handle's well-known document, by Host header as a proxy sends it
my ($s, $b) = http_json(GET => "$u/.well-known/atproto-did", undef, { Host => 'kate.test' });
is($s, 200, '/.well-known/atproto-did for kate.test');
like($b, qr/^did:plc:[a-z2-7]{24}$/, '... is the DID');

($s, $b) = http_json(POST => "$u/xrpc/com.atproto.identity.updateHandle",
                     { handle => 'katherine.test' }, \%auth);
is($s, 200, 'updateHandle') or diag explain $b;

($s, $b) = http_json(GET => "$pds->{plc}/$k->{did}");
is_deeply($b->{alsoKnownAs}, ['at://katherine.test'], 'the PLC directory has the new handle');
($s, $b) = http_json(GET => "$pds->{plc}/$k->{did}/log/audit");
is(scalar @{ ref $b eq 'ARRAY' ? $b : [] }, 2, 'two operations in the DID log: genesis and update');

($s, $b) = http_json(GET => "$u/xrpc/com.atproto.identity.resolveHandle?handle=katherine.test");
is($b->{did}, $k->{did}, 'resolveHandle finds the new handle');
($s, $b) = http_json(GET => "$u/xrpc/com.atproto.identity.resolveHandle?handle=kate.test");
is($s, 400, 'the old handle is gone');
is($b->{error}, 'HandleNotFound', '... HandleNotFound');

($s, $b) = http_json(GET => "$u/.well-known/atproto-did", undef, { Host => 'katherine.test' });
is($b, $k->{did}, 'the well-known document follows');

($s, $b) = http_json(POST => "$u/xrpc/com.atproto.identity.updateHandle",
                     { handle => 'liam.test' }, \%auth);
is($s, 400, "another account's handle");
is($b->{error}, 'HandleNotAvailable', '... HandleNotAvailable');

($s, $b) = http_json(POST => "$u/xrpc/com.atproto.identity.updateHandle",
                     { handle => 'x.test' }, \%auth);
is($b->{error}, 'InvalidHandle', 'a too short handle');

($s, $b) = http_json(GET => "$u/xrpc/com.atproto.identity.getRecommendedDidCredentials", undef, \%auth);
is($s, 200, 'getRecommendedDidCredentials');
is_deeply($b->{alsoKnownAs}, ['at://katherine.test'], '... alsoKnownAs');
like($b->{verificationMethods}{atproto}, qr/^did:key:zQ3s/, '... the account key');
is(scalar @{ $b->{rotationKeys} }, 1, '... the PDS rotation key');
is($b->{services}{atproto_pds}{endpoint}, "http://localhost:$pds->{port}", '... this PDS');

($s, $b) = http_json(GET => "$u/xrpc/com.atproto.repo.describeRepo?repo=$k->{did}");
is($b->{handle}, 'katherine.test', 'describeRepo has the new handle');
ok($b->{handleIsCorrect}, '... and it matches the DID document');

stop_all();
is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes');
done_testing();
