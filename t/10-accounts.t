# The self-hosting walkthrough, exactly as the guides tell it: health,
# describeServer, an admin-made invite code, createAccount with a real
# did:plc registered at a real local PLC directory, then the DID document.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use MIME::Base64 qw(encode_base64);
use PDSTest qw(start_pds http_json stop_all log_problems);

my $pds = start_pds() or plan skip_all => 'no PLC directory (npm packages missing)';
my $u = $pds->{url};

my ($s, $b) = http_json(GET => "$u/xrpc/_health");
is($s, 200, '_health');
ok($b->{version}, '... has a version');

($s, $b) = http_json(GET => "$u/xrpc/com.atproto.server.describeServer");
is($s, 200, 'describeServer');
ok($b->{inviteCodeRequired}, 'invite codes are required');
is_deeply($b->{availableUserDomains}, ['.test'], 'handle domain .test for localhost');

# curl -X POST -H "Authorization: Basic $(echo -n 'admin:PASSWORD' | base64)"
my $basic = 'Basic ' . encode_base64("admin:$pds->{admin}", '');
($s, $b) = http_json(POST => "$u/xrpc/com.atproto.server.createInviteCode",
                     { useCount => 1 }, { Authorization => $basic });
is($s, 200, 'createInviteCode with the admin password');
like($b->{code}, qr/^localhost-[a-z2-7]{5}-[a-z2-7]{5}$/, 'code format as the reference');
my $code = $b->{code};

($s, $b) = http_json(POST => "$u/xrpc/com.atproto.server.createInviteCode",
                     { useCount => 1 },
                     { Authorization => 'Basic ' . encode_base64('admin:wrong', '') });
is($s, 401, 'wrong admin password');
is($b->{error}, 'AuthenticationRequired', '... AuthenticationRequired');

($s, $b) = http_json(POST => "$u/xrpc/com.atproto.server.createInviteCode", { useCount => 1 });
is($s, 401, 'no admin password');

my %acct = (email => 'alice@example.com', handle => 'alice.test',
            password => 'correct horse battery staple', inviteCode => $code);

($s, $b) = http_json(POST => "$u/xrpc/com.atproto.server.createAccount", \%acct);
is($s, 200, 'createAccount') or diag explain $b;
like($b->{did} // '', qr/^did:plc:[a-z2-7]{24}$/, 'a did:plc');
is($b->{handle}, 'alice.test', 'the handle');
ok($b->{accessJwt} && $b->{refreshJwt}, 'session tokens');
my $did = $b->{did};
my $created = $b;

# the DID is registered at the PLC directory and points at this PDS
($s, my $doc) = http_json(GET => "$pds->{plc}/$did");
is($s, 200, 'the PLC directory resolves the DID');
is_deeply($doc->{alsoKnownAs}, ['at://alice.test'], 'alsoKnownAs');
my ($svc) = grep { $_->{id} =~ /#atproto_pds$/ } @{ $doc->{service} || [] };
is($svc->{serviceEndpoint}, "http://localhost:$pds->{port}", 'services.atproto_pds endpoint');
($s, my $data) = http_json(GET => "$pds->{plc}/$did/data");
like($data->{verificationMethods}{atproto} // '', qr/^did:key:zQ3s/,
     'verificationMethods.atproto is a secp256k1 did:key');
is($created->{didDoc}{id}, $did, 'createAccount returns the DID document');
is('did:key:' . ($created->{didDoc}{verificationMethod}[0]{publicKeyMultibase} // ''),
   $data->{verificationMethods}{atproto}, '... with the same key the directory has');

# negative cases: none changes anything
($s, $b) = http_json(POST => "$u/xrpc/com.atproto.server.createAccount",
                     { %acct, handle => 'bob.test', email => 'bob@example.com' });
is($s, 400, 'a used-up invite');
is($b->{error}, 'InvalidInviteCode', '... InvalidInviteCode');

($s, $b) = http_json(POST => "$u/xrpc/com.atproto.server.createInviteCode",
                     { useCount => 5 }, { Authorization => $basic });
my $code5 = $b->{code};

($s, $b) = http_json(POST => "$u/xrpc/com.atproto.server.createAccount",
                     { %acct, inviteCode => $code5, email => 'other@example.com' });
is($s, 400, 'duplicate handle');
is($b->{message}, 'Handle already taken: alice.test', '... says so');

($s, $b) = http_json(POST => "$u/xrpc/com.atproto.server.createAccount",
                     { %acct, inviteCode => $code5, handle => 'alice2.test', email => 'ALICE@example.com' });
is($s, 400, 'duplicate email (case-insensitive)');
like($b->{message} // '', qr/^Email already taken/, '... says so');

($s, $b) = http_json(POST => "$u/xrpc/com.atproto.server.createAccount",
                     { %acct, inviteCode => $code5, handle => 'carol.example.com', email => 'c@example.com' });
is($s, 400, 'a handle outside the domains');
is($b->{error}, 'UnsupportedDomain', '... UnsupportedDomain');

($s, $b) = http_json(POST => "$u/xrpc/com.atproto.server.createAccount",
                     { %acct, inviteCode => $code5, handle => 'ab.test', email => 'c@example.com' });
is($b->{error}, 'InvalidHandle', 'a too short handle');
is($b->{message}, 'Handle too short', '... Handle too short');

($s, $b) = http_json(POST => "$u/xrpc/com.atproto.server.createAccount",
                     { %acct, inviteCode => $code5, handle => 'admin.test', email => 'c@example.com' });
is($b->{error}, 'HandleNotAvailable', 'a reserved handle');

($s, $b) = http_json(POST => "$u/xrpc/com.atproto.server.createAccount",
                     { %acct, inviteCode => $code5, handle => 'carol.test', email => 'not-an-email' });
is($s, 400, 'a bad email');

($s, $b) = http_json(POST => "$u/xrpc/com.atproto.server.createAccount",
                     { %acct, inviteCode => $code5, handle => 'carol.test', email => 'c@example.com',
                       password => 'x' x 257 });
like($b->{message} // '', qr/^Password too long/, 'a too long password');

($s, $b) = http_json(POST => "$u/xrpc/com.atproto.server.createAccount",
                     { %acct, inviteCode => 'nope', handle => 'carol.test', email => 'c@example.com' });
is($b->{error}, 'InvalidInviteCode', 'an unknown invite code');

($s, $b) = http_json(POST => "$u/xrpc/com.atproto.server.createAccount",
                     '{"handle": "carol.test"', { 'Content-Type' => 'application/json' });
is($s, 400, 'malformed JSON');

# the multi-use code still works for another account
($s, $b) = http_json(POST => "$u/xrpc/com.atproto.server.createAccount",
                     { %acct, inviteCode => $code5, handle => 'carol.test', email => 'carol@example.com' });
is($s, 200, 'another account with a multi-use code') or diag explain $b;
isnt($b->{did}, $did, '... with its own DID');

stop_all();
is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes');

done_testing();
