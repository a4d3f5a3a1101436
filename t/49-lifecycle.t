# An account's life: deactivateAccount (optional deleteAfter) and
# activateAccount with what sessions, sync, writes and the firehose say
# meanwhile; requestAccountDelete (token read from the mailer's log-only
# lines) and deleteAccount, after which the account's repo, records,
# blobs (files too), sessions, app passwords, preferences and invite codes
# are gone, its handle and email are free, sync and repo reads answer
# RepoNotFound, and its firehose events are gone but for #account
# "deleted" (the reference's sequencer does the same).  A bigger account
# is deleted while _health is polled: the event loop is never stalled.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use POSIX ();
use Time::HiRes qw(sleep time);
use PDSTest qw(start_pds http_json stop_all log_problems create_account slurp
               basic_auth);
use PDSFuzz qw(ws_open ws_frames ws_close);

my $pds = start_pds() or plan skip_all => 'no PLC directory (npm packages missing)';
my $u = $pds->{url};

sub call {
    my ($method, $nsid, $body, $token, $params) = @_;
    my $h = $token ? { Authorization => "Bearer $token" } : {};
    return http_json($method, "$u/xrpc/$nsid" . ($params ? "?$params" : ''), $body, $h);
}

sub post_record {
    my ($acc, $text) = @_;
    return call(POST => 'com.atproto.repo.createRecord',
                { repo => $acc->{did}, collection => 'app.bsky.feed.post',
                  record => { '$type' => 'app.bsky.feed.post', text => $text,
                              createdAt => '2026-01-01T00:00:00.000Z' } },
                $acc->{accessJwt});
}

# the tokens of the mails to $to logged so far
sub tokens_to {
    my ($to) = @_;
    my $log = slurp($pds->{log});
    my @t;
    while ($log =~ /pds: mail to "\Q$to\E" .*?^([A-Z2-7]{5}-[A-Z2-7]{5})$/msg) {
        push @t, $1;
    }
    return @t;
}

sub wait_token {
    my ($to, $n) = @_;
    my $t0 = time;
    while (time - $t0 < 10) {
        my @t = tokens_to($to);
        return $t[$n - 1] if @t >= $n;
        sleep 0.1;
    }
    return undef;
}

# firehose frames (binary payloads) from the start that mention $did
sub frames_of {
    my ($did) = @_;
    my ($ws, $why) = ws_open($pds->{port}, 'localhost', '?cursor=0');
    ok($ws, 'subscribeRepos from cursor 0') or diag $why;
    return () unless $ws;
    my @f = map { $_->[1] } grep { $_->[0] == 2 } ws_frames($ws, 1.5);
    ws_close($ws);
    return grep { index($_, $did) >= 0 } @f;
}

my $frank = create_account($pds, handle => 'frank.test', password => 'frank-password');
my $gina = create_account($pds, handle => 'gina.test', password => 'gina-password');
ok($frank && $gina, 'two accounts') or BAIL_OUT('no accounts');
my $did = $frank->{did};
my $at = $frank->{accessJwt};
my ($s, $b);

($s, $b) = post_record($frank, 'before');
is($s, 200, 'a post');

# ---- deactivation
($s, my $ap) = call(POST => 'com.atproto.server.createAppPassword', { name => 'p' }, $at);
($s, my $apsess) = call(POST => 'com.atproto.server.createSession',
                        { identifier => $did, password => $ap->{password} });
($s, $b) = call(POST => 'com.atproto.server.deactivateAccount', {}, $apsess->{accessJwt});
is($s, 400, 'deactivateAccount with an app password: 400');
is($b->{message}, 'Bad token scope', '... Bad token scope');
($s, $b) = call(POST => 'com.atproto.server.deactivateAccount', { deleteAfter => 'tomorrow' }, $at);
is($s, 400, 'a deleteAfter that is no datetime: 400');
is($b->{error}, 'InvalidRequest', '... InvalidRequest');
($s, $b) = call(POST => 'com.atproto.server.deactivateAccount',
                { deleteAfter => '2030-01-01T00:00:00.000Z' }, $at);
is($s, 200, 'deactivateAccount: 200');

($s, $b) = call(GET => 'com.atproto.server.getSession', undef, $at);
is($s, 200, 'getSession still answers');
ok(!$b->{active} && ($b->{status} // '') eq 'deactivated', '... active false, status deactivated');
($s, $b) = call(POST => 'com.atproto.server.createSession',
                { identifier => 'frank.test', password => 'frank-password' });
is($s, 200, 'a deactivated account still logs in');
ok(!$b->{active} && ($b->{status} // '') eq 'deactivated', '... told it is deactivated');
($s, $b) = post_record($frank, 'while deactivated');
is($s, 401, 'writes are refused');
is($b->{error}, 'AccountDeactivated', '... AccountDeactivated');
($s, $b) = call(GET => 'com.atproto.sync.getRepoStatus', undef, undef, "did=$did");
ok($s == 200 && !$b->{active} && $b->{status} eq 'deactivated', 'getRepoStatus: deactivated');
($s, $b) = call(GET => 'com.atproto.sync.listRepos');
my ($entry) = grep { $_->{did} eq $did } @{ $b->{repos} || [] };
ok($entry && !$entry->{active} && $entry->{status} eq 'deactivated', 'listRepos: deactivated');
($s, $b) = call(GET => 'com.atproto.sync.getLatestCommit', undef, undef, "did=$did");
is($b->{error}, 'RepoDeactivated', 'getLatestCommit: RepoDeactivated');
($s, $b) = call(GET => 'com.atproto.server.checkAccountStatus', undef, $at);
ok($s == 200 && !$b->{activated}, 'checkAccountStatus: activated false');
# the reference finds only active accounts for repo reads (getDidForActor)
($s, $b) = call(GET => 'com.atproto.repo.listRecords', undef, undef,
                "repo=$did&collection=app.bsky.feed.post");
ok($s == 400 && $b->{error} eq 'InvalidRequest' && $b->{message} eq "Could not find repo: $did",
   'listRecords of a deactivated repo: 400 Could not find repo') or diag explain $b;
($s, $b) = call(GET => 'com.atproto.repo.listRecords', undef, undef,
                "repo=frank.test&collection=app.bsky.feed.post");
is($s, 400, '... by handle too');
($s, $b) = call(GET => 'com.atproto.repo.getRecord', undef, undef,
                "repo=$did&collection=app.bsky.feed.post&rkey=3jzfcijpj2z2a");
ok($s == 400 && $b->{message} eq 'Could not locate record',
   'getRecord of a deactivated repo: Could not locate record') or diag explain $b;

# ---- activation
($s, $b) = call(POST => 'com.atproto.server.activateAccount', undef, $apsess->{accessJwt});
is($s, 400, 'activateAccount with an app password: 400');
($s, $b) = call(POST => 'com.atproto.server.activateAccount', undef, $at);
is($s, 200, 'activateAccount: 200');
($s, $b) = call(GET => 'com.atproto.server.getSession', undef, $at);
ok($b->{active} && !exists $b->{status}, 'active again');
($s, $b) = post_record($frank, 'after');
is($s, 200, 'writes work again');
($s, $b) = call(GET => 'com.atproto.sync.getRepoStatus', undef, undef, "did=$did");
ok($b->{active}, 'getRepoStatus: active');
($s, $b) = call(GET => 'com.atproto.repo.listRecords', undef, undef,
                "repo=$did&collection=app.bsky.feed.post");
ok($s == 200 && @{ $b->{records} || [] } >= 1, 'listRecords answers again after activation');

my @f = frames_of($did);
my @acct = grep { index($_, '#account') >= 0 } @f;
ok((grep { index($_, 'deactivated') >= 0 } @acct) == 1, 'the firehose has #account deactivated');
my ($i_deact) = grep { index($f[$_], 'deactivated') >= 0 } 0 .. $#f;
ok(defined $i_deact && $i_deact + 3 < @f
   && index($f[$i_deact + 1], '#account') >= 0 && index($f[$i_deact + 1], 'deactivated') < 0
   && index($f[$i_deact + 2], '#identity') >= 0 && index($f[$i_deact + 3], '#sync') >= 0,
   'then, on activation, #account, #identity and #sync (the reference\'s order)');

# ---- deletion: what it needs
($s, $b) = call(POST => 'com.atproto.server.uploadBlob', undef, $at);
($s, my $blob) = http_json(POST => "$u/xrpc/com.atproto.repo.uploadBlob", "\x89PNG" . ('z' x 3000),
                           { Authorization => "Bearer $at", 'Content-Type' => 'image/png' });
is($s, 200, 'a blob');
($s, $b) = call(POST => 'com.atproto.repo.createRecord',
                { repo => $did, collection => 'app.bsky.feed.post',
                  record => { '$type' => 'app.bsky.feed.post', text => 'pic',
                              createdAt => '2026-01-01T00:00:00.000Z',
                              embed => { '$type' => 'app.bsky.embed.images',
                                         images => [{ alt => '', image => $blob->{blob} }] } } },
                $at);
is($s, 200, 'a post with the blob');
my @blobdirs = glob("$pds->{dir}/data/blobs/*");
is(scalar(@blobdirs), 1, 'one account has blob files') or diag "@blobdirs";
($s, $b) = http_json(POST => "$u/xrpc/com.atproto.server.createInviteCode",
                     { useCount => 1, forAccount => $did },
                     { Authorization => basic_auth('admin', $pds->{admin}) });
my $code = $b->{code};
ok($code, 'an invite code for the account');

($s, $b) = call(POST => 'com.atproto.server.requestAccountDelete', undef, $apsess->{accessJwt});
is($s, 400, 'requestAccountDelete with an app password: 400');
($s, $b) = call(POST => 'com.atproto.server.requestAccountDelete');
is($s, 401, 'requestAccountDelete without a session: 401');
($s, $b) = call(POST => 'com.atproto.server.requestAccountDelete', undef, $at);
is($s, 200, 'requestAccountDelete: 200');
my $tok = wait_token('frank@example.com', 1);
ok($tok, 'the token is mailed');
($s, $b) = call(POST => 'com.atproto.server.requestAccountDelete', undef, $gina->{accessJwt});
my $gtok = wait_token('gina@example.com', 1);

my %del = (did => $did, password => 'frank-password', token => $tok);
for my $case (['no token', { %del, token => undef }, 400, 'InvalidRequest'],
              ['a bad DID', { %del, did => 'nope' }, 400, 'InvalidRequest'],
              ['an unknown DID', { %del, did => 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa' }, 400, 'InvalidRequest'],
              ['a wrong password', { %del, password => 'wrong' }, 401, 'AuthenticationRequired'],
              ['an app password', { %del, password => $ap->{password} }, 401, 'AuthenticationRequired'],
              ['a wrong token', { %del, token => 'AAAAA-BBBBB' }, 400, 'InvalidToken'],
              ['another account\'s token', { %del, token => $gtok }, 400, 'InvalidToken'])
{
    my %body = %{ $case->[1] };
    delete $body{token} unless defined $body{token};
    ($s, $b) = call(POST => 'com.atproto.server.deleteAccount', \%body);
    is($s, $case->[2], "deleteAccount with $case->[0]: $case->[2]");
    is($b->{error}, $case->[3], "... $case->[3]");
}
($s, $b) = call(GET => 'com.atproto.server.getSession', undef, $at);
is($s, 200, 'none of them deleted anything');

($s, $b) = call(POST => 'com.atproto.server.deleteAccount', { %del, token => lc $tok });
is($s, 200, 'deleteAccount: 200');
($s, $b) = call(POST => 'com.atproto.server.deleteAccount', \%del);
is($s, 400, 'again: 400');
is($b->{message}, 'account not found', '... account not found');

# ---- what is gone
($s, $b) = call(GET => 'com.atproto.server.getSession', undef, $at);
is($s, 400, 'getSession with its token: 400');
($s, $b) = call(POST => 'com.atproto.server.refreshSession', undef, $frank->{refreshJwt});
is($s, 400, 'refreshSession: 400');
($s, $b) = call(POST => 'com.atproto.server.createSession',
                { identifier => $did, password => 'frank-password' });
is($s, 401, 'no login with the password');
($s, $b) = call(POST => 'com.atproto.server.createSession',
                { identifier => $did, password => $ap->{password} });
is($s, 401, 'nor with the app password');
($s, $b) = post_record($frank, 'after deletion');
is($s, 403, 'a write: 403');
is($b->{error}, 'AccountNotFound', '... AccountNotFound');
for my $m (qw(getRepoStatus getLatestCommit getRepo listBlobs)) {
    ($s, $b) = call(GET => "com.atproto.sync.$m", undef, undef, "did=$did");
    ok($s == 400 && $b->{error} eq 'RepoNotFound', "$m: RepoNotFound");
}
($s, $b) = call(GET => 'com.atproto.repo.describeRepo', undef, undef, "repo=$did");
is($b->{error}, 'RepoNotFound', 'describeRepo: RepoNotFound');
($s, $b) = call(GET => 'com.atproto.repo.listRecords', undef, undef,
                "repo=$did&collection=app.bsky.feed.post");
is($s, 400, 'listRecords: 400');
($s, $b) = call(GET => 'com.atproto.sync.getBlob', undef, undef, "did=$did&cid=$blob->{blob}{ref}{'$link'}");
is($s, 400, 'getBlob: 400');
($s, $b) = call(GET => 'com.atproto.identity.resolveHandle', undef, undef, 'handle=frank.test');
is($b->{error}, 'HandleNotFound', 'the handle no longer resolves');
($s, $b) = call(GET => 'com.atproto.sync.listRepos');
ok(!grep({ $_->{did} eq $did } @{ $b->{repos} || [] }), 'listRepos no longer lists it');
my $t0 = time;
@blobdirs = glob("$pds->{dir}/data/blobs/*");
while (@blobdirs && time - $t0 < 5) { sleep 0.1; @blobdirs = glob("$pds->{dir}/data/blobs/*") }
is(scalar(@blobdirs), 0, 'its blob files are gone') or diag "@blobdirs";

@f = frames_of($did);
is(scalar(@f), 1, 'one firehose event of it is left');
ok(@f && index($f[0], '#account') >= 0 && index($f[0], 'deleted') >= 0, '... #account, status deleted');
my @g = frames_of($gina->{did});
ok(@g >= 4, 'the other account\'s events stay (' . scalar(@g) . ')');
($s, $b) = call(GET => 'com.atproto.server.getSession', undef, $gina->{accessJwt});
is($s, 200, 'the other account is untouched');

# its handle and email are free again; its invite code is gone
my $again = create_account($pds, handle => 'frank.test', email => 'frank@example.com',
                           password => 'new-frank-password');
ok($again && $again->{did} ne $did, 'a new account takes the handle and the email');
($s, $b) = http_json(POST => "$u/xrpc/com.atproto.server.createAccount",
                     { handle => 'hank.test', email => 'hank@example.com',
                       password => 'hank-password', inviteCode => $code });
is($s, 400, 'the deleted account\'s invite code is gone');

# ---- a bigger account, deleted while _health is polled
my $big = create_account($pds, handle => 'ivan.test');
my $n = 0;
for my $batch (1 .. 5) {
    my @writes = map { { '$type' => 'com.atproto.repo.applyWrites#create',
                         collection => 'app.bsky.feed.post',
                         value => { '$type' => 'app.bsky.feed.post', text => "post $batch.$_",
                                    createdAt => '2026-01-01T00:00:00.000Z' } } } 1 .. 200;
    ($s, $b) = call(POST => 'com.atproto.repo.applyWrites',
                    { repo => $big->{did}, writes => \@writes }, $big->{accessJwt});
    $n += 200 if $s == 200;
}
is($n, 1000, '1,000 records written');
call(POST => 'com.atproto.server.requestAccountDelete', undef, $big->{accessJwt});
my $btok = wait_token('ivan@example.com', 1);

my $pid = open(my $poll, '-|') // die "fork: $!";
if (!$pid) {
    # the child: _health every 10 ms for 3 s; prints the slowest answer
    my ($max, $end) = (0, time + 3);
    while (time < $end) {
        my $t = time;
        http_json(GET => "$u/xrpc/_health");
        $max = time - $t if time - $t > $max;
        sleep 0.01;
    }
    print "$max\n";
    close STDOUT;
    POSIX::_exit(0);                # no END blocks: they would stop nginx
}
sleep 0.3;
$t0 = time;
($s, $b) = call(POST => 'com.atproto.server.deleteAccount',
                { did => $big->{did}, password => $big->{password}, token => $btok });
my $took = time - $t0;
is($s, 200, sprintf('the bigger account is deleted (%.0f ms)', $took * 1000));
my $slowest = <$poll>;
close $poll;
chomp $slowest;
ok($slowest ne '' && $slowest < 0.5, sprintf('_health meanwhile: slowest %.1f ms', $slowest * 1000));
like(slurp($pds->{log}), qr/account \Q$big->{did}\E deleted: \d+ rows purged in \d+ transactions/,
     'the purge is logged');
@f = frames_of($big->{did});
is(scalar(@f), 1, 'of its 5 commits and more only #account deleted is left');

stop_all();
is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes in the error log');
done_testing();
