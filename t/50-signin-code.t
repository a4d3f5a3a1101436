# Email sign-in codes (2FA) end to end with a real SMTP receiver (Debian's
# python3-aiosmtpd, t/lib/PDSMail.pm): updateEmail with emailAuthFactor
# turns them on (confirmed address and mailed token first); createSession
# with the password alone then answers 401 AuthFactorTokenRequired and
# mails a code; the code logs in once; a wrong one is 400 InvalidToken
# "Token is invalid" (what the Bluesky app looks for); app passwords and
# refreshes need no code; turning the flag off ends it.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PDSTest qw(start_pds http_json stop_all log_problems create_account);

BEGIN {
    eval { require PDSMail; PDSMail->import(qw(need_smtp start_smtp stop_smtp wait_mails mail_token)); 1 }
        or plan skip_all => 'no t/lib/PDSMail.pm (the mailer\'s test receiver) yet';
}

my $why = need_smtp();
plan skip_all => $why if $why;

my $smtp = start_smtp();
my $pds = start_pds(config => <<"CONF") or plan skip_all => 'no PLC directory (npm packages missing)';
        pds_email_smtp_url smtp://127.0.0.1:$smtp->{port};
        pds_email_from_address "Test PDS <pds\@example.com>";
CONF
my $u = $pds->{url};

sub call {
    my ($method, $nsid, $body, $token) = @_;
    my $h = $token ? { Authorization => "Bearer $token" } : {};
    return http_json($method, "$u/xrpc/$nsid", $body, $h);
}

my $nmail = 0;
# the next mail: its token (and the mail)
sub next_token {
    my ($what) = @_;
    my @m = wait_mails($smtp, ++$nmail);
    my $m = $m[$nmail - 1];
    ok($m, "$what: mailed") or return undef;
    return wantarray ? (mail_token($m), $m) : mail_token($m);
}

my $kim = create_account($pds, handle => 'kim.test', password => 'kim-password');
ok($kim, 'account created') or BAIL_OUT('no account');
my $did = $kim->{did};
my $at = $kim->{accessJwt};
my ($s, $b);

($s, $b) = call(GET => 'com.atproto.server.getSession', undef, $at);
ok(exists $b->{emailAuthFactor} && !$b->{emailAuthFactor}, 'getSession: emailAuthFactor false');

($s, $b) = call(POST => 'com.atproto.server.requestEmailUpdate', undef, $at);
plan skip_all => "updateEmail is not there yet ($s)" if $s == 404 || $s == 501;

# ---- turn it on: a confirmed address, then updateEmail with the flag
($s) = call(POST => 'com.atproto.server.requestEmailConfirmation', undef, $at);
is($s, 200, 'requestEmailConfirmation');
$nmail = scalar(wait_mails($smtp, 1, 2)) - 1;      # requestEmailUpdate may have mailed
my $tok = next_token('the confirmation token');
($s, $b) = call(POST => 'com.atproto.server.confirmEmail',
                { email => 'kim@example.com', token => $tok }, $at);
is($s, 200, 'confirmEmail');

($s, $b) = call(POST => 'com.atproto.server.requestEmailUpdate', undef, $at);
is($s, 200, 'requestEmailUpdate');
ok($b->{tokenRequired}, '... a token is required');
$tok = next_token('the update token');
($s, $b) = call(POST => 'com.atproto.server.updateEmail',
                { email => 'kim@example.com', emailAuthFactor => JSON::PP::true(),
                  token => $tok }, $at);
is($s, 200, 'updateEmail with emailAuthFactor: true');
($s, $b) = call(GET => 'com.atproto.server.getSession', undef, $at);
ok($b->{emailAuthFactor}, 'getSession: emailAuthFactor true');

# an app password made while the session is at hand
($s, my $ap) = call(POST => 'com.atproto.server.createAppPassword', { name => 'bot' }, $at);
is($s, 200, 'an app password');

# ---- the password alone is not enough
($s, $b) = call(POST => 'com.atproto.server.createSession',
                { identifier => 'kim.test', password => 'kim-password' });
is($s, 401, 'createSession with the password alone: 401');
is($b->{error}, 'AuthFactorTokenRequired', '... AuthFactorTokenRequired');
ok(!$b->{accessJwt}, '... and no session');
my ($code, $mail) = next_token('a sign-in code');
like($code // '', qr/^[A-Z2-7]{5}-[A-Z2-7]{5}$/, '... XXXXX-XXXXX on its own line');
is($mail->{to}, 'kim@example.com', '... to the account\'s address');
is($mail->{subject}, 'Your sign-in code', '... subject');

($s, $b) = call(POST => 'com.atproto.server.createSession',
                { identifier => 'kim.test', password => 'wrong-password', authFactorToken => $code });
is($s, 401, 'the code with a wrong password: 401 AuthenticationRequired');
($s, $b) = call(POST => 'com.atproto.server.createSession',
                { identifier => 'kim.test', password => 'kim-password', authFactorToken => 'AAAAA-BBBBB' });
is($s, 400, 'a wrong code: 400');
is($b->{error}, 'InvalidToken', '... InvalidToken');
is($b->{message}, 'Token is invalid', '... Token is invalid');
($s, $b) = call(POST => 'com.atproto.server.createSession',
                { identifier => 'kim.test', password => 'kim-password', authFactorToken => lc $code });
is($s, 200, 'the code (any case) with the password: 200');
ok($b->{accessJwt} && $b->{emailAuthFactor}, '... a session, emailAuthFactor true');
my $refresh = $b->{refreshJwt};
($s, $b) = call(POST => 'com.atproto.server.createSession',
                { identifier => 'kim.test', password => 'kim-password', authFactorToken => $code });
is($s, 400, 'the code a second time: 400 (used up)');

($s, $b) = call(POST => 'com.atproto.server.refreshSession', undef, $refresh);
is($s, 200, 'refreshSession needs no code');
($s, $b) = call(POST => 'com.atproto.server.createSession',
                { identifier => $did, password => $ap->{password} });
is($s, 200, 'an app password needs no code');
my @m = wait_mails($smtp, $nmail + 1, 1);
is(scalar(@m), $nmail, '... and no mail was sent for either');

# ---- turn it off
($s, $b) = call(POST => 'com.atproto.server.requestEmailUpdate', undef, $at);
my %upd = (email => 'kim@example.com', emailAuthFactor => JSON::PP::false());
$upd{token} = next_token('the update token') if $b->{tokenRequired};
($s, $b) = call(POST => 'com.atproto.server.updateEmail', \%upd, $at);
is($s, 200, 'updateEmail with emailAuthFactor: false');
($s, $b) = call(POST => 'com.atproto.server.createSession',
                { identifier => 'kim.test', password => 'kim-password' });
is($s, 200, 'the password alone logs in again');
ok(!$b->{emailAuthFactor}, '... emailAuthFactor false');

stop_smtp($smtp);
stop_all();
is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes in the error log');
done_testing();
