# OAuth sign-in for an account with email sign-in codes (emailAuthFactor):
# the page asks for the code the password mailed (a real SMTP receiver,
# t/lib/PDSMail.pm), refuses a wrong one on the page (role=alert, no
# redirect), and redirects with a code once the mailed one is given.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PDSTest qw(start_pds http_json stop_all log_problems create_account);

BEGIN {
    eval { require PDSMail; PDSMail->import(qw(need_smtp start_smtp stop_smtp wait_mails mail_token)); 1 }
        or plan skip_all => 'no t/lib/PDSMail.pm';
}
my $why = need_smtp();
plan skip_all => $why if $why;
my $cli = ($ENV{PDS_BUILD_DIR} || 'build') . '/t/pds_oauth_cli';
plan skip_all => "$cli is not built" unless -x $cli;

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
sub esc { my $v = shift // ''; $v =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge; $v }
sub post_form {
    my ($path, $f, $h) = @_;
    return http_json(POST => "$u$path", join('&', map { "$_=" . esc($f->{$_}) } sort keys %$f),
                     { 'Content-Type' => 'application/x-www-form-urlencoded', %{ $h || {} } });
}

my $nmail = 0;
sub next_token {
    my ($what) = @_;
    my @m = wait_mails($smtp, ++$nmail);
    my $m = $m[$nmail - 1];
    ok($m, "$what: mailed") or return undef;
    return mail_token($m);
}

my $kim = create_account($pds, handle => 'ivy.test', password => 'ivy-password');
ok($kim, 'account created') or BAIL_OUT('no account');
my $at = $kim->{accessJwt};
my ($s, $b, $res);

# turn the codes on: a confirmed address, then updateEmail with the flag
($s) = call(POST => 'com.atproto.server.requestEmailConfirmation', undef, $at);
is($s, 200, 'requestEmailConfirmation');
($s, $b) = call(POST => 'com.atproto.server.confirmEmail',
                { email => 'ivy@example.com', token => next_token('confirmation') }, $at);
is($s, 200, 'confirmEmail');
($s, $b) = call(POST => 'com.atproto.server.requestEmailUpdate', undef, $at);
($s, $b) = call(POST => 'com.atproto.server.updateEmail',
                { email => 'ivy@example.com', emailAuthFactor => JSON::PP::true(),
                  token => next_token('update') }, $at);
is($s, 200, 'updateEmail with emailAuthFactor: true');

# an OAuth request
my $verifier = 'z' x 50;
chomp(my $ch = `$cli challenge $verifier`);
my $redirect = 'http://127.0.0.1:9/cb';
my $client_id = 'http://localhost?redirect_uri=' . esc($redirect);
($s, $b) = post_form('/oauth/par', { client_id => $client_id, response_type => 'code',
                                     redirect_uri => $redirect, scope => 'atproto',
                                     code_challenge => $ch, code_challenge_method => 'S256',
                                     state => 's' });
is($s, 201, 'PAR');
my $ru = $b->{request_uri};
($s, $b) = http_json(GET => "$u/oauth/authorize?client_id=" . esc($client_id) . '&request_uri=' . esc($ru));
my ($csrf) = $b =~ /name="csrf" value="([0-9a-f]{32})"/;
ok($csrf, 'the page');
my %f = (request_uri => $ru, client_id => $client_id, csrf => $csrf, username => 'ivy.test',
         password => 'ivy-password', action => 'accept');
my %c = (Cookie => "pds-oauth-csrf=$csrf");

($s, $b, $res) = post_form('/oauth/authorize', \%f, \%c);
is($s, 200, 'the password alone: the page again, no redirect');
ok(!$res->{headers}{location}, '... no Location');
like($b, qr/role="status">A sign-in code has been sent/, '... says a code was mailed');
like($b, qr/autocomplete="one-time-code"/, '... and asks for it');
my $code = next_token('the sign-in code');
like($code // '', qr/^[A-Z2-7]{5}-[A-Z2-7]{5}$/, '... XXXXX-XXXXX');

($s, $b, $res) = post_form('/oauth/authorize', { %f, code => 'AAAAA-BBBBB' }, \%c);
is($s, 400, 'a wrong code: 400');
like($b, qr/role="alert"[^>]*>Invalid sign-in code/, '... Invalid sign-in code (role=alert)');
ok(!$res->{headers}{location}, '... no redirect');
($s, $b, $res) = post_form('/oauth/authorize', { %f, code => $code, password => 'nope' }, \%c);
is($s, 400, 'the code with a wrong password: 400');
($s, $b, $res) = post_form('/oauth/authorize', { %f, code => lc $code }, \%c);
is($s, 303, 'the mailed code (any case) with the password: 303');
like($res->{headers}{location} // '', qr{^\Q$redirect\E\?code=cod-[0-9a-f]{64}&state=s&iss=},
     '... to the app with a code');

stop_all();
stop_smtp($smtp);
is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes in the error log');
done_testing();
