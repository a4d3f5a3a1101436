# Sessions and app passwords: createSession by handle, email or DID,
# getSession, refreshSession with rotation and the grace period,
# deleteSession, app passwords and their scope limits, token errors.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use MIME::Base64 qw(decode_base64);
use PDSTest qw(start_pds http_json stop_all log_problems json create_account);

my $pds = start_pds() or plan skip_all => 'no PLC directory (npm packages missing)';
my $u = $pds->{url};

sub call {
    my ($method, $nsid, $body, $token) = @_;
    my $h = $token ? { Authorization => "Bearer $token" } : {};
    my $url = "$u/xrpc/$nsid";
    return http_json($method, $url, $body, $h);
}

sub payload {
    my ($jwt) = @_;
    my (undef, $p) = split /\./, $jwt;
    $p =~ tr{-_}{+/};
    $p .= '=' x ((4 - length($p) % 4) % 4);
    return json()->decode(decode_base64($p));
}

my $dana = create_account($pds, handle => 'dana.test', password => 'hunter2hunter2');
ok($dana, 'account created') or BAIL_OUT('no account');
my $did = $dana->{did};
my ($s, $b);

for my $id ('dana.test', 'DANA.test', 'dana@example.com', $did) {
    ($s, $b) = call(POST => 'com.atproto.server.createSession',
                    { identifier => $id, password => 'hunter2hunter2' });
    is($s, 200, "createSession with $id");
}
is($b->{did}, $did, 'session did');
is($b->{handle}, 'dana.test', 'session handle');
is($b->{email}, 'dana@example.com', 'session email');
ok($b->{active} && !exists $b->{status}, 'active, no status');
ok(!$b->{emailConfirmed} && defined $b->{emailConfirmed}, 'emailConfirmed false');
my $access = $b->{accessJwt};
my $refresh = $b->{refreshJwt};

my $p = payload($access);
is($p->{scope}, 'com.atproto.access', 'access scope');
is($p->{aud}, 'did:web:localhost', 'aud is the service DID');
is($p->{sub}, $did, 'sub is the account');
is($p->{exp} - $p->{iat}, 7200, 'access lives 2 hours');
my $rp = payload($refresh);
is($rp->{scope}, 'com.atproto.refresh', 'refresh scope');
is($rp->{exp} - $rp->{iat}, 90 * 86400, 'refresh lives 90 days');
like($rp->{jti}, qr{^[A-Za-z0-9+/]{43}$}, 'jti is 32 bytes of unpadded base64');

($s, $b) = call(POST => 'com.atproto.server.createSession',
                { identifier => 'dana.test', password => 'wrong' });
is($s, 401, 'wrong password');
is($b->{message}, 'Invalid identifier or password', '... message');
use Time::HiRes qw(time);
my $t0 = time;
($s, $b) = call(POST => 'com.atproto.server.createSession',
                { identifier => 'nobody.test', password => 'wrong' });
is($s, 401, 'unknown identifier');
cmp_ok(time - $t0, '>=', 0.34, 'a failed login takes at least 350 ms, like a good one');

($s, $b) = call(GET => 'com.atproto.server.getSession', undef, $access);
is($s, 200, 'getSession');
is($b->{did}, $did, '... did');
ok(!exists $b->{accessJwt}, '... without tokens');

($s, $b) = call(GET => 'com.atproto.server.getSession');
is($s, 401, 'getSession without a token');
is($b->{error}, 'AuthMissing', '... AuthMissing');

($s, $b) = call(GET => 'com.atproto.server.getSession', undef, $refresh);
is($s, 400, 'a refresh token is no access token');
is($b->{error}, 'InvalidToken', '... InvalidToken');

my $forged = $access;
$forged =~ s/.$/$& eq 'A' ? 'B' : 'A'/e;
($s, $b) = call(GET => 'com.atproto.server.getSession', undef, $forged);
is($b->{error}, 'InvalidToken', 'a forged token');
is($b->{message}, 'Token could not be verified', '... could not be verified');

# an expired access token, signed with the tenant's secret
{
    use Digest::SHA qw(hmac_sha256);
    my $b64 = sub { my $v = MIME::Base64::encode_base64(shift, ''); $v =~ tr{+/}{-_}; $v =~ s/=+$//; $v };
    my $now = time;
    my $h = $b64->('{"typ":"at+jwt","alg":"HS256"}');
    my $c = $b64->(json()->encode({ scope => 'com.atproto.access', aud => 'did:web:localhost',
                                    sub => $did, iat => $now - 7300, exp => $now - 100 }));
    my $sig = $b64->(hmac_sha256("$h.$c", "jwt-secret-$$"));
    ($s, $b) = call(GET => 'com.atproto.server.getSession', undef, "$h.$c.$sig");
    is($s, 400, 'an expired access token');
    is($b->{error}, 'ExpiredToken', '... ExpiredToken');
    is($b->{message}, 'Token has expired', '... Token has expired');
    my $c2 = $b64->(json()->encode({ scope => 'com.atproto.access', aud => 'did:web:localhost',
                                     sub => $did, iat => $now, exp => $now + 100, lxm => 'x' }));
    my $sig2 = $b64->(hmac_sha256("$h.$c2", "jwt-secret-$$"));
    ($s, $b) = call(GET => 'com.atproto.server.getSession', undef, "$h.$c2.$sig2");
    is($b->{message}, 'Malformed token', 'a session token with lxm is refused');
}

# refresh rotation
($s, $b) = call(POST => 'com.atproto.server.refreshSession', undef, $refresh);
is($s, 200, 'refreshSession') or diag explain $b;
my $refresh2 = $b->{refreshJwt};
isnt(payload($refresh2)->{jti}, $rp->{jti}, 'a new refresh token id');
($s, $b) = call(GET => 'com.atproto.server.getSession', undef, $b->{accessJwt});
is($s, 200, 'the new access token works');

($s, $b) = call(POST => 'com.atproto.server.refreshSession', undef, $refresh);
is($s, 200, 'the old refresh token still works in the grace period');
is(payload($b->{refreshJwt})->{jti}, payload($refresh2)->{jti}, '... and gives the same next id');

($s, $b) = call(POST => 'com.atproto.server.refreshSession', undef, $access);
is($s, 400, 'an access token cannot refresh');

($s, $b) = call(POST => 'com.atproto.server.deleteSession', undef, $refresh2);
is($s, 200, 'deleteSession');
($s, $b) = call(POST => 'com.atproto.server.refreshSession', undef, $refresh2);
is($s, 400, 'a deleted session cannot refresh');
is($b->{error}, 'ExpiredToken', '... ExpiredToken');
is($b->{message}, 'Token has been revoked', '... revoked');

# app passwords
($s, $b) = call(POST => 'com.atproto.server.createAppPassword', { name => 'phone' }, $access);
is($s, 200, 'createAppPassword');
like($b->{password} // '', qr/^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$/, '... xxxx-xxxx-xxxx-xxxx');
ok(!$b->{privileged} && defined $b->{privileged}, '... not privileged');
my $apw = $b->{password};

($s, $b) = call(POST => 'com.atproto.server.createAppPassword', { name => 'phone' }, $access);
is($s, 400, 'a duplicate name: 400 (the reference answers 500)');

($s, $b) = call(POST => 'com.atproto.server.createSession',
                { identifier => 'dana.test', password => $apw });
is($s, 200, 'login with the app password');
is(payload($b->{accessJwt})->{scope}, 'com.atproto.appPass', '... appPass scope');
my $app_access = $b->{accessJwt};
my $app_refresh = $b->{refreshJwt};

($s, $b) = call(POST => 'com.atproto.server.createAppPassword', { name => 'x' }, $app_access);
is($s, 400, 'an app password cannot make app passwords');
is($b->{message}, 'Bad token scope', '... Bad token scope');
($s, $b) = call(GET => 'com.atproto.server.getAccountInviteCodes', undef, $app_access);
is($b->{message}, 'Bad token scope', 'nor list invite codes');

($s, $b) = call(GET => 'com.atproto.server.listAppPasswords', undef, $app_access);
is($s, 200, 'listAppPasswords with an app password');
is($b->{passwords}[0]{name}, 'phone', '... lists it');
ok(!exists $b->{passwords}[0]{password}, '... without the secret');

($s, $b) = call(POST => 'com.atproto.server.revokeAppPassword', { name => 'phone' }, $access);
is($s, 200, 'revokeAppPassword');
($s, $b) = call(POST => 'com.atproto.server.refreshSession', undef, $app_refresh);
is($b->{error}, 'ExpiredToken', "the app password's sessions are revoked");
($s, $b) = call(POST => 'com.atproto.server.createSession',
                { identifier => 'dana.test', password => $apw });
is($s, 401, 'and it no longer logs in');

($s, $b) = call(GET => 'com.atproto.server.getAccountInviteCodes', undef, $access);
is($s, 200, 'getAccountInviteCodes');
is_deeply($b->{codes}, [], '... none for a new account');

stop_all();
is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes');
done_testing();
