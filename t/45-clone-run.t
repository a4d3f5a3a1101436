#!/usr/bin/perl
# Day one, as a new user does it: `git clone` the project (the committed
# HEAD of this checkout) into a fresh private folder (mode 0700, like
# /root), run `make run` there as the README's "Two commands" says, and
# follow the README's curl walkthrough against it: invite code (admin
# Basic, the password `make run` printed and stored), createAccount (a
# did:plc), createSession, createRecord, getRecord and listRecords.  Then
# stop it, start it again from the same clone with PDS_DID_PLC_URL naming
# a PLC directory by host name (http://localhost:<port>), and check that a
# new account's DID is registered there.
#
# Ports are the harness's: PDS_PORT from free_port, and PDS_DID_PLC_URL a
# PLC this test starts (so the script never binds its fixed 2582).  The
# Lexicon schemas come from the shared folder when it has them (no npm).
# Slow: the clone builds nginx's module from scratch (1-2 minutes).

use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use File::Path qw(remove_tree);
use POSIX qw(setsid WNOHANG);
use IO::Socket::INET;
use Time::HiRes qw(sleep time);
use Cwd qw(abs_path);
use FindBin;
use lib "$FindBin::Bin/lib";
use PDSTest qw(free_port start_plc json slurp write_file);

for my $tool (qw(git make)) {
    plan skip_all => "$tool is not installed (needed to clone and run the project)"
        unless grep { -x "$_/$tool" } split /:/, $ENV{PATH} // '';
}

my $root = abs_path("$FindBin::Bin/..");
my $started = time;

my $dir = tempdir('pds-clone-XXXXXX', TMPDIR => 1, CLEANUP => 0);
chmod 0700, $dir or die "chmod $dir: $!";
my $main = "$dir/main";
my $run_pgid;    # the process group of the running `make run`
my $run_log;

sub stop_run {
    return unless $run_pgid;
    kill 'TERM', -$run_pgid;
    my $deadline = time + 20;
    while (time < $deadline) {
        last if waitpid($run_pgid, WNOHANG) != 0 && !kill(0, -$run_pgid);
        sleep 0.1;
    }
    if (kill 0, -$run_pgid) {
        kill 'KILL', -$run_pgid;
        sleep 0.2;
    }
    waitpid $run_pgid, 0;
    $run_pgid = undef;
}

# processes (in any group) started from the clone: their working
# directory is in it (make, pds-run, nginx's master and workers, node) or
# their command line names it (nginx's master: -p <clone>/data)
sub leftovers {
    my @left;
    opendir my $dh, '/proc' or return ();
    for my $p (grep { /^\d+$/ } readdir $dh) {
        next if $p == $$;
        open my $fh, '<', "/proc/$p/cmdline" or next;
        my $cmd = do { local $/; <$fh> } // '';
        $cmd =~ tr/\0/ /;
        my $cwd = readlink("/proc/$p/cwd") // '';
        push @left, "$p: $cmd (in $cwd)"
            if index($cwd, $main) == 0 || index($cmd, $main) >= 0;
    }
    return @left;
}

END {
    my $status = $?;
    stop_run();
    for (leftovers()) {
        my ($pid) = /^(\d+)/;
        kill 'KILL', $pid;
    }
    PDSTest::stop_all();
    if ($ENV{PDS_KEEP}) {
        diag("kept $dir");
    } else {
        remove_tree($dir);
    }
    $? = $status;
}

# an interrupted run still cleans up (END runs on exit, not on a signal)
$SIG{$_} = sub { diag("interrupted"); exit 1 } for qw(INT TERM HUP);

my $plc_dir = "$dir/plc";
mkdir $plc_dir;

# ---- the clone ---------------------------------------------------------

my $out = `git clone -q \Q$root\E \Q$main\E 2>&1`;
is($?, 0, 'git clone of the checkout\'s HEAD') or diag($out);
ok(-f "$main/Makefile" && -f "$main/tools/pds-run", 'the clone has the Makefile and tools/pds-run');
my $shared = $ENV{PDS_SHARED_DIR} || abs_path("$root/../shared");
symlink($shared, "$dir/shared") or die "symlink $dir/shared: $!" if $shared && -d $shared;
is((stat $dir)[2] & 07777, 0700, 'the clone\'s parent folder is private (0700)');
diag(sprintf 'running as uid %d (%s)', $>, scalar getpwuid($>) // '?');

# ---- make run ----------------------------------------------------------

sub start_run {
    my (%env) = @_;
    $run_log = "$dir/run-" . time . '.log';
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        setsid();
        chdir $main or exit 127;
        open STDOUT, '>', $run_log;
        open STDERR, '>&', \*STDOUT;
        # only what a user's shell would have: no test harness variables
        delete @ENV{grep { /^(TEST_NGINX_|PDS_)/ } keys %ENV};
        @ENV{keys %env} = values %env;
        exec 'nice', 'make', 'run';
        exit 127;
    }
    $run_pgid = $pid;
}

sub curl {
    my (@args) = @_;
    my $cmd = join ' ', 'curl', '-s', '-m', '30', '-w', '"\n%{http_code}"',
                   map { my $a = $_; $a =~ s/'/'\\''/g; "'$a'" } @args;
    my $text = `$cmd`;
    my ($body, $code) = $text =~ /^(.*)\n(\d+)$/s ? ($1, $2) : ($text, 0);
    my $data = eval { json()->decode($body) } // $body;
    return ($code, $data, $body);
}

sub wait_health {
    my ($port, $secs) = @_;
    my $deadline = time + $secs;
    while (time < $deadline) {
        my ($code) = curl("http://localhost:$port/xrpc/_health");
        return 1 if $code == 200;
        if (waitpid($run_pgid, WNOHANG) == $run_pgid) {
            diag("make run exited ($?) before _health answered");
            $run_pgid = undef;
            return 0;
        }
        sleep 0.5;
    }
    return 0;
}

sub tail_log {
    my @l = split /\n/, slurp($run_log);
    return join "\n", @l > 40 ? @l[-40 .. -1] : @l;
}

my $lexicons = -f "$shared/lexicons/app/bsky/feed/post.json" ? "$shared/lexicons" : undef;
my %common = ($lexicons ? (PDS_LEXICONS_DIR => $lexicons) : ());

my $plc1 = start_plc($plc_dir) or do {
    BAIL_OUT('no PLC directory could be started (npm packages missing in t/js)');
};
my $port = free_port();
start_run(%common, PDS_PORT => $port, PDS_DID_PLC_URL => $plc1);
my $t0 = time;
ok(wait_health($port, 360), "make run: _health answers on http://localhost:$port")
    or do { diag(tail_log()); done_testing(); exit 1 };
diag(sprintf 'make run was ready after %.0f s', time - $t0);

my $log = slurp($run_log);
like($log, qr{served on http://127\.0\.0\.1:$port}, 'make run says where it serves');
my ($printed) = $log =~ /generated admin password: (\S+)/;
my $pw = slurp("$main/data/secrets/admin_password") =~ s/\s+$//r;
ok(length $pw >= 16, 'the admin password is stored in data/secrets/admin_password');
is($printed, $pw, 'make run printed the same admin password');
my ($mode) = (stat "$main/data/secrets")[2] & 07777;
is($mode, 0700, 'data/secrets is private');

# ---- the README's walkthrough -----------------------------------------

sub walkthrough {
    my ($pds, $handle, $plc) = @_;
    my ($code, $r) = curl("$pds/xrpc/com.atproto.server.describeServer");
    is($code, 200, "$handle: describeServer");
    ok(ref $r eq 'HASH' && ref $r->{availableUserDomains} eq 'ARRAY'
       && grep({ $_ eq '.test' } @{ $r->{availableUserDomains} }),
       "$handle: describeServer offers .test handles") or diag(explain $r);
    ok($r->{inviteCodeRequired}, "$handle: invites are required") if ref $r;

    ($code, $r) = curl('-u', "admin:$pw", '-H', 'content-type: application/json',
                       '-d', '{"useCount":1}',
                       "$pds/xrpc/com.atproto.server.createInviteCode");
    is($code, 200, "$handle: createInviteCode with admin Basic");
    my $invite = ref $r ? $r->{code} : undef;
    ok(defined $invite && $invite =~ /\S/, "$handle: an invite code") or diag(explain $r);

    ($code, $r) = curl('-u', "admin:wrong-$pw", '-H', 'content-type: application/json',
                       '-d', '{"useCount":1}',
                       "$pds/xrpc/com.atproto.server.createInviteCode");
    is($code, 401, "$handle: a wrong admin password is refused");

    my $email = ($handle =~ s/\..*//r) . '@example.com';
    ($code, $r) = curl('-H', 'content-type: application/json', '-d',
        json()->encode({ handle => $handle, email => $email,
                         password => 'a-long-password', inviteCode => $invite }),
        "$pds/xrpc/com.atproto.server.createAccount");
    is($code, 200, "$handle: createAccount") or diag(explain $r);
    my $did = ref $r ? $r->{did} // '' : '';
    like($did, qr/^did:plc:[a-z2-7]{24}$/, "$handle: a did:plc");
    is(ref $r ? $r->{handle} : undef, $handle, "$handle: the handle is the one asked for");

    # the DID is registered at the PLC directory the PDS was given
    ($code, my $doc) = curl("$plc/$did");
    is($code, 200, "$handle: $did resolves at $plc");
    my ($svc) = ref $doc eq 'HASH' ? grep { ($_->{id} // '') eq '#atproto_pds' } @{ $doc->{service} || [] } : ();
    is($svc && $svc->{serviceEndpoint}, "http://localhost:$port",
       "$handle: its DID document names this PDS") or diag(explain $doc);
    ok(ref $doc eq 'HASH' && grep({ $_ eq "at://$handle" } @{ $doc->{alsoKnownAs} || [] }),
       "$handle: its DID document has the handle");

    ($code, $r) = curl('-H', 'content-type: application/json', '-d',
        json()->encode({ identifier => $handle, password => 'a-long-password' }),
        "$pds/xrpc/com.atproto.server.createSession");
    is($code, 200, "$handle: createSession") or diag(explain $r);
    my $jwt = ref $r ? $r->{accessJwt} : undef;
    ok(defined $jwt && $jwt =~ /^[\w-]+\.[\w-]+\.[\w-]+$/, "$handle: an access token");
    is(ref $r ? $r->{did} : undef, $did, "$handle: the session is the account's");

    my @t = gmtime;
    my $now = sprintf '%04d-%02d-%02dT%02d:%02d:%02dZ', $t[5] + 1900, $t[4] + 1, @t[3, 2, 1, 0];
    my $text = "hello from $handle";
    ($code, $r) = curl('-H', "authorization: Bearer $jwt", '-H', 'content-type: application/json', '-d',
        json()->encode({ repo => $handle, collection => 'app.bsky.feed.post',
                         record => { '$type' => 'app.bsky.feed.post', text => $text,
                                     createdAt => $now } }),
        "$pds/xrpc/com.atproto.repo.createRecord");
    is($code, 200, "$handle: createRecord") or diag(explain $r);
    my $uri = ref $r ? $r->{uri} // '' : '';
    like($uri, qr{^at://\Q$did\E/app\.bsky\.feed\.post/[a-z2-7]{13}$}, "$handle: the record's at:// URI");
    is(ref $r ? $r->{validationStatus} : undef, 'valid',
       "$handle: the post was validated against the Lexicon") if $lexicons;
    my ($rkey) = $uri =~ m{/([^/]+)$};
    my $cid = ref $r ? $r->{cid} : undef;

    ($code, $r) = curl("$pds/xrpc/com.atproto.repo.getRecord?repo=$handle&collection=app.bsky.feed.post&rkey="
                       . ($rkey // ''));
    is($code, 200, "$handle: getRecord") or diag(explain $r);
    is(ref $r ? $r->{uri} : undef, $uri, "$handle: getRecord gives the same URI");
    is(ref $r ? $r->{cid} : undef, $cid, "$handle: and the same CID");
    is(ref $r && ref $r->{value} ? $r->{value}{text} : undef, $text, "$handle: and the text");

    ($code, $r) = curl("$pds/xrpc/com.atproto.repo.listRecords?repo=$handle&collection=app.bsky.feed.post");
    is($code, 200, "$handle: listRecords");
    is(ref $r && ref $r->{records} eq 'ARRAY' ? scalar @{ $r->{records} } : -1, 1,
       "$handle: listRecords has the one post");
    return $did;
}

my $pds = "http://localhost:$port";

# the README's own shell block, word for word (only the port differs)
my $readme = slurp("$main/README.md");
my ($section) = $readme =~ /^## Two commands.*?\n(.*?)^## /ms;
my @blocks = ($section // '') =~ /^```sh\n(.*?)^```/msg;
my ($script) = grep { /createAccount/ } @blocks;
ok($script, 'the README\'s "Two commands" section has the curl walkthrough');
$script //= '';
my $n = $script =~ s{^PDS=http://localhost:2583$}{PDS=http://localhost:$port}m;
is($n, 1, 'the walkthrough names the PDS by host name (localhost:2583)');
write_file("$dir/walkthrough.sh", "cd \Q$main\E\n$script");
my $said = `bash \Q$dir/walkthrough.sh\E 2>&1`;
is($?, 0, 'the README\'s walkthrough runs') or diag($said);
like($said, qr/"version"/, 'README: _health answers');
my ($did1) = $said =~ /"did":"(did:plc:[a-z2-7]{24})"/;
ok($did1, 'README: createAccount gave a did:plc') or diag($said);
like($said, qr/"handle":"alice\.test"/, 'README: the account is alice.test');
like($said, qr{"uri":"at://\Q${\($did1 // 'x')}\E/app\.bsky\.feed\.post/[a-z2-7]{13}"}, 'README: createRecord gave the post\'s URI');
like($said, qr/"value":\{[^}]*"text":"hello"/, 'README: getRecord read the post back');
my ($code_r) = curl("$plc1/" . ($did1 // 'none'));
is($code_r, 200, 'README: alice\'s DID is registered at the PLC directory');

walkthrough($pds, 'carol.test', $plc1);

# ---- pdsadmin against make run's PDS (make run built pds-backup too), as its --help says: no --url and no
# password file, only PDS_PORT (its defaults are make run's address and
# data/secrets/admin_password), run from the clone
sub pdsadmin {
    my (@args) = @_;
    my $cmd = join ' ', "cd \Q$main\E &&", "env PDS_PORT=$port", 'tools/pdsadmin',
                        map { my $a = $_; $a =~ s/'/'\\''/g; "'$a'" } @args;
    my $out = `$cmd 2>\Q$dir/pdsadmin.err\E`;
    my $rc = $? >> 8;
    return ($rc, $out, slurp("$dir/pdsadmin.err"));
}
{
    my ($rc, $out, $err) = pdsadmin('account', 'list');
    is($rc, 0, 'pdsadmin account list (make run\'s defaults)') or diag $err;
    like($out, qr/^alice\.test\s+\S+\s+\Q${\($did1 \/\/ 'x')}\E\s+active$/m, '... lists alice.test');
    like($out, qr/^carol\.test\s/m, '... and carol.test');
    ($rc, $out, $err) = pdsadmin('create-invite-code', 2);
    is($rc, 0, 'pdsadmin create-invite-code 2') or diag $err;
    like($out, qr/^\S+-[a-z2-7]{5}-[a-z2-7]{5}$/, '... prints a code');
    ($rc, $out, $err) = pdsadmin('account', 'create', 'dora@example.com', 'dora.test');
    is($rc, 0, 'pdsadmin account create') or diag $err;
    my ($dora) = $out =~ /^DID:\s+(did:plc:\S+)/m;
    my ($dora_pw) = $out =~ /^Password:\s+(\S+)/m;
    ok($dora && $dora_pw, '... a did:plc and a password');
    my ($code, $r) = curl("$plc1/" . ($dora // 'none'));
    is($code, 200, '... registered at the PLC directory');
    ($rc, $out, $err) = pdsadmin('account', 'info', $dora // 'did:plc:none');
    like($out, qr/"handle": "dora\.test"/, 'pdsadmin account info');
    ($rc, $out, $err) = pdsadmin('account', 'takedown', $dora // 'did:plc:none');
    is($rc, 0, 'pdsadmin account takedown') or diag $err;
    ($code, $r) = curl('-H', 'content-type: application/json', '-d',
        json()->encode({ identifier => 'dora.test', password => $dora_pw // '' }),
        "$pds/xrpc/com.atproto.server.createSession");
    is_deeply([$code, ref $r ? $r->{error} : $r], [401, 'AccountTakedown'], '... dora cannot sign in');
    ($rc) = pdsadmin('account', 'untakedown', $dora // 'did:plc:none');
    is($rc, 0, 'pdsadmin account untakedown');
    ($rc, $out, $err) = pdsadmin('account', 'reset-password', $dora // 'did:plc:none');
    my ($new_pw) = $out =~ /: (\S+)$/m;
    ok($rc == 0 && $new_pw, 'pdsadmin account reset-password prints a new password') or diag $err;
    ($code) = curl('-H', 'content-type: application/json', '-d',
        json()->encode({ identifier => 'dora.test', password => $new_pw // '' }),
        "$pds/xrpc/com.atproto.server.createSession");
    is($code, 200, '... which signs in');

    # request-crawl: the relay's side is a listener that takes one request
    my $relay = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0,
                                      Proto => 'tcp', ReuseAddr => 1) or die "listen: $!";
    my $rport = $relay->sockport;
    my $kid = fork() // die "fork: $!";
    if ($kid == 0) {
        local $SIG{ALRM} = sub { POSIX::_exit(1) };
        alarm 30;
        my $c = $relay->accept or POSIX::_exit(1);
        my $req = '';
        while (my $line = <$c>) { $req .= $line; last if $line eq "\r\n" }
        my ($len) = $req =~ /^Content-Length:\s*(\d+)/mi;
        read($c, my $body, $len // 0);
        write_file("$dir/relay.req", $req . $body);
        print $c "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        close $c;
        POSIX::_exit(0);
    }
    close $relay;
    ($rc, $out, $err) = pdsadmin('request-crawl', "http://127.0.0.1:$rport");
    waitpid $kid, 0;
    is($rc, 0, 'pdsadmin request-crawl RELAY') or diag $err;
    my $req = slurp("$dir/relay.req");
    like($req, qr{^POST /xrpc/com\.atproto\.sync\.requestCrawl }, '... POSTs requestCrawl to the relay');
    like($req, qr/\{"hostname":"localhost"\}$/, '... naming this PDS\'s host');

    ($rc, $out, $err) = pdsadmin('backup', "$main/data", "$dir/backup");
    is($rc, 0, 'pdsadmin backup of make run\'s data while it runs') or diag $err;
    ok(-f "$dir/backup/lmdb/data.mdb", '... a database in the backup');
    ($rc, $out, $err) = pdsadmin('account', 'delete', $dora // 'did:plc:none');
    is($rc, 0, 'pdsadmin account delete') or diag $err;
    ($rc, $out) = pdsadmin('account', 'list');
    unlike($out, qr/dora\.test/, '... dora is no longer listed');
    ($rc, $out, $err) = pdsadmin('account', 'delete', 'nope');
    is($rc, 2, 'a usage error exits 2');
}

# ---- stop: nothing is left running ---------------------------------------

stop_run();
my @left = leftovers();
ok(!@left, 'after the stop, no nginx, node or make of the clone is left') or diag(join "\n", @left);
ok(!PDSTest::wait_port($port, 0.2), 'the port is closed');

# ---- again, with a PLC directory named by host name -----------------------

my $plc_dir2 = "$dir/plc2";
mkdir $plc_dir2;
my $plc2 = start_plc($plc_dir2) or BAIL_OUT('second PLC did not start');
my ($plc2_port) = $plc2 =~ /:(\d+)$/;
my $plc2_url = "http://localhost:$plc2_port";
start_run(%common, PDS_PORT => $port, PDS_DID_PLC_URL => $plc2_url);
$t0 = time;
ok(wait_health($port, 120), "make run again (PDS_DID_PLC_URL=$plc2_url): _health answers")
    or do { diag(tail_log()); done_testing(); exit 1 };
diag(sprintf 'the second start was ready after %.1f s', time - $t0);
unlike(slurp($run_log), qr/generated admin password/, 'the admin password is kept across restarts');
like(slurp("$main/data/nginx.conf"), qr{pds_plc_url \Q$plc2_url\E;}, 'the generated config names the PLC by host name');

# the first account survived the restart
my ($code, $r) = curl('-H', 'content-type: application/json', '-d',
    json()->encode({ identifier => 'alice.test', password => 'a-long-password' }),
    "$pds/xrpc/com.atproto.server.createSession");
is($code, 200, 'alice.test can still log in after the restart');
is(ref $r ? $r->{did} : undef, $did1, 'with the same DID');

my $did2 = walkthrough($pds, 'bob.test', $plc2);
($code) = curl("$plc1/$did2");
is($code, 404, 'bob\'s DID is not at the first PLC directory');

stop_run();
@left = leftovers();
ok(!@left, 'after the second stop, nothing of the clone is left running') or diag(join "\n", @left);

diag(sprintf 'total %.0f s', time - $started);
done_testing();
