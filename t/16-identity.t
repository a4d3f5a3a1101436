# Identity: updateHandle (a signed PLC update through nginx), resolveHandle,
# the well-known document, getRecommendedDidCredentials, describeRepo errors.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use MIME::Base64 qw(encode_base64);
use PDSTest qw(start_pds http_json stop_all log_problems);

my $pds = start_pds() or plan skip_all => 'no PLC directory (npm packages missing)';
my $u = $pds->{url};
my $basic = 'Basic ' . encode_base64("admin:$pds->{admin}", '');

sub account {
    my ($name) = @_;
    my (undef, $inv) = http_json(POST => "$u/xrpc/com.atproto.server.createInviteCode",
                                 { useCount => 1 }, { Authorization => $basic });
    my ($s, $b) = http_json(POST => "$u/xrpc/com.atproto.server.createAccount",
                            { email => "$name\@example.com", handle => "$name.test",
                              password => "$name-password", inviteCode => $inv->{code} });
    die explain $b unless $s == 200;
    return $b;
}

my $k = account('kate');
my $l = account('liam');
my %auth = (Authorization => "Bearer $k->{accessJwt}");

my ($s, $b) = http_json(POST => "$u/xrpc/com.atproto.identity.updateHandle",
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

($s, $b) = http_json(GET => "$u/xrpc/com.atproto.repo.describeRepo?repo=did:plc:zzzzzzzzzzzzzzzzzzzzzzzz");
is($s, 400, 'describeRepo of an unknown DID');
is($b->{error}, 'RepoNotFound', '... RepoNotFound');

($s, $b) = http_json(POST => "$u/xrpc/com.atproto.server.reserveSigningKey", {});
like($b->{signingKey} // '', qr/^did:key:zQ3s/, 'reserveSigningKey gives a secp256k1 did:key');

stop_all();
is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes');
done_testing();
