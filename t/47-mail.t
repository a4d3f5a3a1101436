# Email, end to end with a real SMTP receiver (t/mail/smtp_receiver.py on
# Debian's python3-aiosmtpd): every mail is read back from the receiver and
# its token used.
#
#   1. the address methods: requestEmailConfirmation, confirmEmail,
#      requestEmailUpdate (token to the old, confirmed address), updateEmail
#      (TokenRequired, InvalidToken, a taken address, emailAuthFactor), the
#      reference's statuses and error names;
#   2. no SMTP configured: the mail is in the error log (notice) and gone;
#   3. STARTTLS with a verified certificate (a test CA) and AUTH; smtps; a
#      certificate for another name and an untrusted one are refused (the
#      mail waits);
#   4. a receiver that is down at first: the mail arrives once it is up
#      (within the back-off), and after an nginx restart;
#   5. kill -9 of nginx (master and workers) while a worker holds a mail
#      (the test accepts the worker's SMTP connection and says nothing, so
#      the mail is leased and not sent): after the restart the mail is
#      delivered at once, exactly once, and its token works.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use PDSTest qw(start_pds start_nginx http_json log_problems slurp json
               create_account nginx_pids scratch_dir free_port wait_port);
use PDSMail qw(need_smtp make_ca start_smtp stop_smtp restart_smtp
               read_mails wait_mails mail_token);

if (my $why = need_smtp()) {
    plan skip_all => $why;
}

my $FROM = '"PDS Tëst" <noreply@pds.example.com>';

sub xrpc {
    my ($pds, $method, $nsid, $jwt, $body) = @_;
    return http_json($method => "$pds->{url}/xrpc/$nsid", $body,
                     $jwt ? { Authorization => "Bearer $jwt" } : {});
}

sub err_is {
    my ($got, $status, $name, $what) = @_;
    my ($s, $b) = @$got;
    is("$s " . (ref $b ? ($b->{error} // '') : ''), "$status $name", $what)
        or diag(ref $b ? json()->encode($b) : $b);
}

sub session {
    my ($pds, $acc) = @_;
    return (xrpc($pds, GET => 'com.atproto.server.getSession', $acc->{accessJwt}))[1];
}

# nginx of a PDS stopped (SIGTERM) and started again with the same data
sub restart_pds {
    my ($pds, %o) = @_;
    my ($master) = nginx_pids($pds);
    kill 'TERM', $master;
    waitpid $master, 0;
    my $conf = slurp("$pds->{dir}/nginx.conf");
    $conf =~ s/^\s*user [^\n]*\n//;
    start_nginx($pds->{dir}, $conf, $pds->{port});
}

# ---- 1. the address methods ------------------------------------------------

my $smtp = start_smtp();
my $pds = start_pds(config => <<"CONF")
        pds_email_smtp_url smtp://127.0.0.1:$smtp->{port};
        pds_email_from_address '$FROM';
CONF
    or plan skip_all => 'no PLC directory (npm packages missing)';

my $alice = create_account($pds, handle => 'alice.test');
my $bob = create_account($pds, handle => 'bob.test');
ok($alice && $bob, 'two accounts');
my $aj = $alice->{accessJwt};

my ($s, $b) = xrpc($pds, POST => 'com.atproto.server.requestEmailConfirmation', $aj);
is($s, 200, 'requestEmailConfirmation: 200');
my @m = wait_mails($smtp, 1);
is(scalar @m, 1, 'one mail arrived');
my $token = mail_token($m[0]);
like($token // '', qr/^[A-Z2-7]{5}-[A-Z2-7]{5}$/, 'its token is on a line of its own');
is($m[0]{to}, 'alice@example.com', 'sent to the account\'s address');
is($m[0]{from}, 'noreply@pds.example.com', 'envelope sender: the from address');
like($m[0]{headers}{from}, qr/^=\?UTF-8\?B\?[^?]+\?= <noreply\@pds\.example\.com>$/,
     'From: the name (RFC 2047) and the address');
is($m[0]{headers}{to}, '<alice@example.com>', 'To:');
like($m[0]{headers}{date}, qr/^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d \+0000$/, 'Date:');
like($m[0]{headers}{'message-id'}, qr/^<\d+\.\d+\@localhost>$/, 'Message-ID:');
like($m[0]{headers}{'content-type'}, qr{^text/plain; charset=utf-8$}, 'plain text, UTF-8');
is($m[0]{tls}, 'no', 'no STARTTLS offered: plain SMTP');
like($m[0]{subject}, qr/confirm/i, 'the subject says what it is');

err_is([xrpc($pds, POST => 'com.atproto.server.confirmEmail', $aj,
             { email => 'alice@example.com' })],
       400, 'InvalidRequest', 'confirmEmail without a token: InvalidRequest');
err_is([xrpc($pds, POST => 'com.atproto.server.confirmEmail', $aj,
             { email => 'other@example.com', token => $token })],
       400, 'InvalidEmail', 'confirmEmail for another address: InvalidEmail');
err_is([xrpc($pds, POST => 'com.atproto.server.confirmEmail', $aj,
             { email => 'alice@example.com', token => 'AAAAA-BBBBB' })],
       400, 'InvalidToken', 'a wrong token: InvalidToken');
err_is([xrpc($pds, POST => 'com.atproto.server.confirmEmail', $bob->{accessJwt},
             { email => 'bob@example.com', token => $token })],
       400, 'InvalidToken', 'alice\'s token for bob: InvalidToken');
($s) = xrpc($pds, POST => 'com.atproto.server.confirmEmail', $aj,
            { email => 'ALICE@example.com', token => lc $token });
is($s, 200, 'confirmEmail with the token in lower case, address in any case: 200');
err_is([xrpc($pds, POST => 'com.atproto.server.confirmEmail', $aj,
             { email => 'alice@example.com', token => $token })],
       400, 'InvalidToken', 'the token works once');
my $sess = session($pds, $alice);
SKIP: {
    skip 'getSession has no emailConfirmed yet', 1 unless exists $sess->{emailConfirmed};
    ok($sess->{emailConfirmed}, 'getSession: emailConfirmed');
}

# requestEmailUpdate: the address is confirmed, so a token goes to it
($s, $b) = xrpc($pds, POST => 'com.atproto.server.requestEmailUpdate', $aj);
is($s, 200, 'requestEmailUpdate: 200');
is_deeply($b, { tokenRequired => JSON::PP::true() }, 'tokenRequired: true');
@m = wait_mails($smtp, 2);
is($m[1]{to}, 'alice@example.com', 'the update token goes to the old address');
my $utoken = mail_token($m[1]);
ok($utoken, 'with a token');

err_is([xrpc($pds, POST => 'com.atproto.server.updateEmail', $aj,
             { email => 'alice2@example.com' })],
       400, 'TokenRequired', 'updateEmail without the token: TokenRequired');
err_is([xrpc($pds, POST => 'com.atproto.server.updateEmail', $aj,
             { email => 'alice2@example.com', token => 'AAAAA-BBBBB' })],
       400, 'InvalidToken', 'with a wrong token: InvalidToken');
err_is([xrpc($pds, POST => 'com.atproto.server.updateEmail', $aj,
             { email => 'not-an-address', token => $utoken })],
       400, 'InvalidRequest', 'not an address: InvalidRequest');
($s, $b) = xrpc($pds, POST => 'com.atproto.server.updateEmail', $aj,
                { email => 'BOB@example.com', token => $utoken });
is("$s $b->{error} $b->{message}",
   '400 InvalidRequest This email address is already in use, please use a different email.',
   'bob\'s address: InvalidRequest, in use');
err_is([xrpc($pds, POST => 'com.atproto.server.updateEmail', $aj,
             { email => 'alice2@example.com', token => $utoken, emailAuthFactor => JSON::PP::true() })],
       400, 'InvalidRequest', 'sign-in codes with a new (unconfirmed) address: refused');
($s) = xrpc($pds, POST => 'com.atproto.server.updateEmail', $aj,
            { email => 'Alice2@Example.com', token => $utoken });
is($s, 200, 'updateEmail with the token: 200');
$sess = session($pds, $alice);
is($sess->{email}, 'alice2@example.com', 'the new address, in lower case');
SKIP: {
    skip 'getSession has no emailConfirmed yet', 1 unless exists $sess->{emailConfirmed};
    ok(!$sess->{emailConfirmed}, 'no longer confirmed');
}
err_is([xrpc($pds, POST => 'com.atproto.server.updateEmail', $aj,
             { email => 'alice3@example.com', token => $utoken })],
       400, 'InvalidToken', 'the update token is spent');

# unconfirmed: no token needed, none sent
($s, $b) = xrpc($pds, POST => 'com.atproto.server.requestEmailUpdate', $aj);
is_deeply([$s, $b], [200, { tokenRequired => JSON::PP::false() }],
          'requestEmailUpdate while unconfirmed: tokenRequired false');
($s) = xrpc($pds, POST => 'com.atproto.server.updateEmail', $aj,
            { email => 'alice3@example.com' });
is($s, 200, 'updateEmail while unconfirmed needs no token');
err_is([xrpc($pds, POST => 'com.atproto.server.updateEmail', $aj,
             { email => 'alice3@example.com', emailAuthFactor => JSON::PP::true() })],
       400, 'InvalidRequest', 'sign-in codes need a confirmed address');
sleep 0.3;
is(scalar(read_mails($smtp)), 2, 'no mail for an unconfirmed address\'s update');

# confirm the new address, then turn sign-in codes on with a token
xrpc($pds, POST => 'com.atproto.server.requestEmailConfirmation', $aj);
@m = wait_mails($smtp, 3);
is($m[2]{to}, 'alice3@example.com', 'the confirmation goes to the new address');
($s) = xrpc($pds, POST => 'com.atproto.server.confirmEmail', $aj,
            { email => 'alice3@example.com', token => mail_token($m[2]) });
is($s, 200, 'the new address confirmed');
xrpc($pds, POST => 'com.atproto.server.requestEmailUpdate', $aj);
@m = wait_mails($smtp, 4);
($s) = xrpc($pds, POST => 'com.atproto.server.updateEmail', $aj,
            { email => 'alice3@example.com', token => mail_token($m[3]),
              emailAuthFactor => JSON::PP::true() });
is($s, 200, 'emailAuthFactor on, with the token, the confirmed address kept');
$sess = session($pds, $alice);
SKIP: {
    skip 'getSession has no emailAuthFactor yet', 2 unless exists $sess->{emailAuthFactor};
    ok($sess->{emailAuthFactor}, 'getSession: emailAuthFactor');
    ok($sess->{emailConfirmed}, 'still confirmed');
}

# app passwords cannot change the address
($s, $b) = http_json(POST => "$pds->{url}/xrpc/com.atproto.server.createAppPassword",
                     { name => 'app' }, { Authorization => "Bearer $aj" });
my ($s2, $app) = http_json(POST => "$pds->{url}/xrpc/com.atproto.server.createSession",
                           { identifier => 'alice.test', password => $b->{password} });
($s, $b) = xrpc($pds, POST => 'com.atproto.server.requestEmailUpdate', $app->{accessJwt});
is($s, 400, 'requestEmailUpdate with an app password: 400') or diag(json()->encode($b));
($s) = xrpc($pds, POST => 'com.atproto.server.requestEmailConfirmation', $app->{accessJwt});
is($s, 200, 'requestEmailConfirmation with an app password: 200 (as the reference)');
wait_mails($smtp, 5);
err_is([xrpc($pds, POST => 'com.atproto.server.requestEmailConfirmation')],
       401, 'AuthMissing', 'no session: 401 AuthMissing');

is(scalar(read_mails($smtp)), 5, 'five mails in all, each once');
is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes');

# ---- 2. no SMTP configured: the error log -------------------------------------

my $quiet = start_pds(plc => $pds->{plc});
my $carol = create_account($quiet, handle => 'carol.test');
($s) = xrpc($quiet, POST => 'com.atproto.server.requestEmailConfirmation', $carol->{accessJwt});
is($s, 200, 'without SMTP: requestEmailConfirmation 200');
my ($logged, $t0) = ('', time);
while (time - $t0 < 5) {
    $logged = slurp($quiet->{log});
    last if $logged =~ /not sent \(no pds_email_smtp_url\)/;
    sleep 0.05;
}
like($logged, qr/\[notice\].*mail to "carol\@example\.com" \(did:plc:\w+\), not sent/,
     'the mail is in the error log at notice');
my ($ltoken) = $logged =~ /^([A-Z2-7]{5}-[A-Z2-7]{5})$/m;
ok($ltoken, 'with its token on a line');
($s) = xrpc($quiet, POST => 'com.atproto.server.confirmEmail', $carol->{accessJwt},
            { email => 'carol@example.com', token => $ltoken });
is($s, 200, 'an admin can read the token there: confirmEmail 200');
sleep 1.5;
my $n = () = slurp($quiet->{log}) =~ /not sent \(no pds_email_smtp_url\)/g;
is($n, 1, 'logged once, then removed from the outbox');

# ---- 3. TLS and AUTH ----------------------------------------------------------

my $ca = make_ca(scratch_dir());
my $tls_smtp = start_smtp(starttls => { cert => $ca->{cert}, key => $ca->{key} },
                          auth => 'mailer:p@ss:w');
my $tls = start_pds(plc => $pds->{plc}, config => <<"CONF");
        pds_email_smtp_url smtp://mailer:p%40ss%3Aw\@localhost:$tls_smtp->{port};
        pds_email_from_address noreply\@pds.example.com;
        pds_email_smtp_ca_file $ca->{ca};
CONF
my $dave = create_account($tls, handle => 'dave.test');
($s) = xrpc($tls, POST => 'com.atproto.server.requestEmailConfirmation', $dave->{accessJwt});
is($s, 200, 'STARTTLS + AUTH: requested');
@m = wait_mails($tls_smtp, 1);
is($m[0]{tls}, 'yes', 'delivered over STARTTLS (the receiver requires it)');
is($m[0]{auth}, 'mailer', 'authenticated with the URL-decoded credentials');
ok(mail_token($m[0]), 'with its token');

my $smtps = start_smtp(tls => { cert => $ca->{cert}, key => $ca->{key} });
my $tls2 = start_pds(plc => $pds->{plc}, config => <<"CONF");
        pds_email_smtp_url smtps://localhost:$smtps->{port};
        pds_email_from_address noreply\@pds.example.com;
        pds_email_smtp_ca_file $ca->{ca};
CONF
my $erin = create_account($tls2, handle => 'erin.test');
xrpc($tls2, POST => 'com.atproto.server.requestEmailConfirmation', $erin->{accessJwt});
@m = wait_mails($smtps, 1);
is($m[0]{tls}, 'yes', 'smtps: delivered over TLS from the first byte');

# a certificate for another name, and one no trusted CA signed: not sent
my $wrong = start_smtp(tls => { cert => $ca->{other_cert}, key => $ca->{other_key} });
my $tls3 = start_pds(plc => $pds->{plc}, config => <<"CONF");
        pds_email_smtp_url smtps://localhost:$wrong->{port};
        pds_email_from_address noreply\@pds.example.com;
        pds_email_smtp_ca_file $ca->{ca};
CONF
my $untrusted = start_smtp(tls => { cert => $ca->{cert}, key => $ca->{key} });
my $tls4 = start_pds(plc => $pds->{plc}, config => <<"CONF");
        pds_email_smtp_url smtps://localhost:$untrusted->{port};
        pds_email_from_address noreply\@pds.example.com;
CONF
my $frank = create_account($tls3, handle => 'frank.test');
my $gina = create_account($tls4, handle => 'gina.test');
xrpc($tls3, POST => 'com.atproto.server.requestEmailConfirmation', $frank->{accessJwt});
xrpc($tls4, POST => 'com.atproto.server.requestEmailConfirmation', $gina->{accessJwt});
$t0 = time;
while (time - $t0 < 5) {
    last if slurp($tls3->{log}) =~ /not sent yet/ && slurp($tls4->{log}) =~ /not sent yet/;
    sleep 0.05;
}
like(slurp($tls3->{log}), qr/not sent yet \(attempt 1\): the server's certificate does not match "localhost"/,
     'a certificate for another name: refused, the mail kept');
like(slurp($tls4->{log}), qr/not sent yet \(attempt 1\): the server's certificate is not trusted/,
     'a certificate of an unknown CA (system store): refused, the mail kept');
is(scalar(read_mails($wrong)) + scalar(read_mails($untrusted)), 0, 'nothing sent to them');
is_deeply([map { log_problems($_->{log}) } $quiet, $tls, $tls2, $tls3, $tls4], [],
          'no alerts or crashes');

# ---- 4. a receiver that is down at first; a restart ---------------------------

my $late_port = free_port();
my $late = start_pds(plc => $pds->{plc}, workers => 2, config => <<"CONF");
        pds_email_smtp_url smtp://localhost:$late_port;
        pds_email_from_address noreply\@pds.example.com;
CONF
my $hank = create_account($late, handle => 'hank.test');
($s) = xrpc($late, POST => 'com.atproto.server.requestEmailConfirmation', $hank->{accessJwt});
is($s, 200, 'requested while the receiver is down');
$t0 = time;
while (time - $t0 < 5) {
    last if slurp($late->{log}) =~ /not sent yet \(attempt 1\)/;
    sleep 0.05;
}
like(slurp($late->{log}), qr/not sent yet \(attempt 1\): could not connect.*next attempt in 5 s/,
     'the first attempt fails and is rescheduled');
sleep 1;
my $late_smtp = start_smtp(port => $late_port);
my $up = time;
@m = wait_mails($late_smtp, 1, 15);
is(scalar @m, 1, 'delivered once the receiver is up');
cmp_ok(time - $up, '<', 12, sprintf('within the back-off (%.1f s after it came up)', time - $up));

# a restart: queued while the receiver is down, delivered after it
stop_smtp($late_smtp);
($s) = xrpc($late, POST => 'com.atproto.server.requestEmailConfirmation', $hank->{accessJwt});
$t0 = time;
while (time - $t0 < 5) {
    last if (() = slurp($late->{log}) =~ /not sent yet \(attempt 1\)/g) >= 2;
    sleep 0.05;
}
restart_pds($late);
restart_smtp($late_smtp);
$up = time;
@m = wait_mails($late_smtp, 2, 15);
is(scalar @m, 2, 'delivered after an nginx restart');
cmp_ok(time - $up, '<', 12, sprintf('(%.1f s after)', time - $up));
isnt(mail_token($m[0]), mail_token($m[1]), 'the second request\'s own token');

# ---- 5. kill -9 while a worker holds the mail ----------------------------------

# a port that accepts connections (the kernel's backlog) and never answers:
# the worker's session waits for a greeting, the mail leased to it
stop_smtp($late_smtp);
my $mute = IO::Socket::INET->new(Listen => 5, LocalAddr => '127.0.0.1',
                                 LocalPort => $late_port, ReuseAddr => 1, Proto => 'tcp')
    or die "listen: $!";
($s) = xrpc($late, POST => 'com.atproto.server.requestEmailConfirmation', $hank->{accessJwt});
is($s, 200, 'requested; the server will not answer');
# the worker that claimed the mail connects: take the connection and say
# nothing, so its session waits for the greeting with the mail leased
$mute->timeout(10);
my $held = $mute->accept;
ok($held, 'a worker claimed the mail and connected to the server');
sleep 0.3;
is(scalar(() = slurp($late->{log}) =~ /\) sent: /g), 2, 'the mail is being sent, not done');
my ($master, @workers) = nginx_pids($late, 2);
kill 'KILL', $master, @workers;
waitpid $master, 0;
my $eof = '';
$held->blocking(0) if $held;
for (1 .. 100) {
    last unless $held;
    my $n = sysread($held, my $buf, 512);
    if (defined $n) { $eof = $n == 0 ? 'closed' : "sent: $buf"; last }
    sleep 0.02;
}
is($eof, 'closed', 'the session died with its worker before the greeting: nothing was sent');
close $held if $held;
close $mute;
my $conf = slurp("$late->{dir}/nginx.conf");
$conf =~ s/^\s*user [^\n]*\n//;
$late_smtp = start_smtp(port => $late_port, dir => $late_smtp->{dir});
start_nginx($late->{dir}, $conf, $late->{port});
$up = time;
@m = wait_mails($late_smtp, 3, 20);
is(scalar @m, 3, 'after kill -9 of master and workers the mail is delivered');
cmp_ok(time - $up, '<', 8, sprintf('at once, the dead worker\'s lease freed (%.1f s)', time - $up));
sleep 1;
is(scalar(read_mails($late_smtp)), 3, 'exactly once');
my $killed_token = mail_token($m[2]);
($s) = xrpc($late, POST => 'com.atproto.server.confirmEmail', $hank->{accessJwt},
            { email => $hank->{email}, token => $killed_token // 'none' });
is($s, 200, 'the token of the mail the kill interrupted confirms the address');
is_deeply([grep { !/exited on signal 9/ } log_problems($late->{log})], [],
          'no alerts or crashes (but the kill)');

done_testing();
