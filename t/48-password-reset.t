# Forgotten passwords, end to end: requestPasswordReset mails a token
# (read here from the error log, where the mailer writes each mail when no
# pds_email_smtp_url is set), resetPassword with it sets the new password,
# revokes every refresh token (app password sessions too) and uses the
# token up; an unknown address gets the same 200 and no mail.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep);
use PDSTest qw(start_pds http_json stop_all log_problems create_account slurp);

my $pds = start_pds() or plan skip_all => 'no PLC directory (npm packages missing)';
my $u = $pds->{url};

sub call {
    my ($method, $nsid, $body, $token) = @_;
    my $h = $token ? { Authorization => "Bearer $token" } : {};
    return http_json($method, "$u/xrpc/$nsid", $body, $h);
}

# the mails logged so far: [to, text]
sub mails {
    my $log = -e $pds->{log} ? slurp($pds->{log}) : '';
    my @m;
    while ($log =~ /pds: mail to "([^"]+)" \([^)]*\), not sent \(no pds_email_smtp_url\):\n(.*?)(?=, client: |\n\d{4}\/\d\d\/\d\d |\z)/sg) {
        push @m, [$1, $2];
    }
    return @m;
}

# waits for the n-th mail (1-based) to arrive; returns its token
sub token_of_mail {
    my ($n, $to) = @_;
    my $t0 = time;
    while (time - $t0 < 10) {
        my @m = mails();
        if (@m >= $n) {
            is($m[$n - 1][0], $to, "mail $n goes to $to");
            my ($tok) = $m[$n - 1][1] =~ /^([A-Z2-7]{5}-[A-Z2-7]{5})$/m;
            ok($tok, "mail $n has the token on its own line") or diag $m[$n - 1][1];
            return $tok;
        }
        sleep 0.1;
    }
    fail("mail $n arrived");
    return undef;
}

my $erin = create_account($pds, handle => 'erin.test', email => 'Erin@Example.com',
                          password => 'first-password');
ok($erin, 'account created') or BAIL_OUT('no account');
my $did = $erin->{did};
my ($s, $b);

# an app password and its session, to see what a reset revokes
($s, $b) = call(POST => 'com.atproto.server.createAppPassword', { name => 'phone' },
                $erin->{accessJwt});
is($s, 200, 'an app password');
my $app = $b->{password};
($s, my $appsess) = call(POST => 'com.atproto.server.createSession',
                         { identifier => $did, password => $app });
is($s, 200, 'an app password session');

# ---- input errors
($s, $b) = call(POST => 'com.atproto.server.requestPasswordReset', {});
is($s, 400, 'requestPasswordReset without email: 400');
is($b->{error}, 'InvalidRequest', '... InvalidRequest');
($s, $b) = call(POST => 'com.atproto.server.resetPassword', { token => 'AAAAA-BBBBB' });
is($s, 400, 'resetPassword without password: 400');
is($b->{error}, 'InvalidRequest', '... InvalidRequest');

# ---- an unknown address: 200 and nothing sent (the reference says 400 and so
# tells who has an account)
($s, $b) = call(POST => 'com.atproto.server.requestPasswordReset',
                { email => 'nobody@example.com' });
is($s, 200, 'an unknown address: 200');
sleep 0.5;
is(scalar(mails()), 0, '... and no mail');

# ---- a known one, in another case
($s, $b) = call(POST => 'com.atproto.server.requestPasswordReset',
                { email => 'ERIN@example.COM' });
is($s, 200, 'requestPasswordReset: 200');
my $tok = token_of_mail(1, 'Erin@Example.com');
like(mails() ? (mails())[0][1] : '', qr/^Subject: Password reset requested$/m, 'its subject');

($s, $b) = call(POST => 'com.atproto.server.resetPassword',
                { token => 'AAAAA-BBBBB', password => 'second-password' });
is($s, 400, 'a wrong token: 400');
is($b->{error}, 'InvalidToken', '... InvalidToken');
is($b->{message}, 'Token is invalid', '... Token is invalid');

($s, $b) = call(POST => 'com.atproto.server.resetPassword',
                { token => $tok, password => 'x' x 257 });
is($s, 400, 'a password over 256 characters: 400');
is($b->{message}, 'Invalid password length.', '... Invalid password length.');

($s, $b) = call(POST => 'com.atproto.server.resetPassword',
                { token => lc $tok, password => 'second-password' });
is($s, 200, 'resetPassword with the token in lower case: 200');

($s, $b) = call(POST => 'com.atproto.server.resetPassword',
                { token => $tok, password => 'third-password' });
is($s, 400, 'the token again: 400');
is($b->{error}, 'InvalidToken', '... InvalidToken (used up)');

# ---- what the reset changed
($s, $b) = call(POST => 'com.atproto.server.createSession',
                { identifier => 'erin.test', password => 'first-password' });
is($s, 401, 'the old password no longer logs in');
($s, $b) = call(POST => 'com.atproto.server.createSession',
                { identifier => 'erin.test', password => 'second-password' });
is($s, 200, 'the new one does');
($s, $b) = call(POST => 'com.atproto.server.refreshSession', undef, $erin->{refreshJwt});
is($s, 400, 'the old refresh token is revoked');
is($b->{error}, 'ExpiredToken', '... ExpiredToken');
is($b->{message}, 'Token has been revoked', '... Token has been revoked');
($s, $b) = call(POST => 'com.atproto.server.refreshSession', undef, $appsess->{refreshJwt});
is($s, 400, 'so is the app password session\'s (as the reference)');
($s, $b) = call(GET => 'com.atproto.server.getSession', undef, $erin->{accessJwt});
is($s, 200, 'an access token lives on until it expires (as the reference)');
($s, $b) = call(POST => 'com.atproto.server.createSession',
                { identifier => $did, password => $app });
is($s, 200, 'the app password itself still works (as the reference)');

# ---- a second request replaces the first token
($s) = call(POST => 'com.atproto.server.requestPasswordReset', { email => 'erin@example.com' });
my $t1 = token_of_mail(2, 'Erin@Example.com');
($s) = call(POST => 'com.atproto.server.requestPasswordReset', { email => 'erin@example.com' });
my $t2 = token_of_mail(3, 'Erin@Example.com');
isnt($t1, $t2, 'a new token each time');
($s, $b) = call(POST => 'com.atproto.server.resetPassword',
                { token => $t1, password => 'fourth-password' });
is($b->{error}, 'InvalidToken', 'the replaced one is invalid');
($s, $b) = call(POST => 'com.atproto.server.resetPassword',
                { token => $t2, password => 'fourth-password' });
is($s, 200, 'the newest one works');

stop_all();
is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes in the error log');
done_testing();
