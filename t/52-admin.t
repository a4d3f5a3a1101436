# The operator's methods (com.atproto.admin.*, HTTP Basic admin auth):
# getAccountInfo(s) give the reference's AccountView; a repo takedown
# (updateSubjectStatus) refuses logins and refreshes with AccountTakedown,
# appends #account "takendown", and its reversal restores login;
# updateAccountPassword replaces the password and revokes the refresh
# tokens; deleteAccount removes the account without its password.  A wrong
# admin password, a user's Bearer token and none at all get the
# reference's 401s.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PDSTest qw(start_pds http_json stop_all log_problems create_account
               basic_auth);
use PDSFuzz qw(ws_open ws_frames ws_close);

my $pds = start_pds() or plan skip_all => 'no PLC directory (npm packages missing)';
my $u = $pds->{url};
my $admin = { Authorization => basic_auth('admin', $pds->{admin}) };

sub adm {
    my ($method, $nsid, $body, $params, $h) = @_;
    return http_json($method, "$u/xrpc/com.atproto.admin.$nsid" . ($params ? "?$params" : ''),
                     $body, $h // $admin);
}

sub call {
    my ($method, $nsid, $body, $token) = @_;
    my $h = $token ? { Authorization => "Bearer $token" } : {};
    return http_json($method, "$u/xrpc/$nsid", $body, $h);
}

sub login {
    my ($id, $pw) = @_;
    return call(POST => 'com.atproto.server.createSession',
                { identifier => $id, password => $pw });
}

sub frames_of {
    my ($did) = @_;
    my ($ws, $why) = ws_open($pds->{port}, 'localhost', '?cursor=0');
    ok($ws, 'subscribeRepos from cursor 0') or diag $why;
    return () unless $ws;
    my @f = map { $_->[1] } grep { $_->[0] == 2 } ws_frames($ws, 1.5);
    ws_close($ws);
    return grep { index($_, $did) >= 0 } @f;
}

my $hana = create_account($pds, handle => 'hana.test', password => 'hana-password');
my $ivan = create_account($pds, handle => 'ivan.test', password => 'ivan-password');
ok($hana && $ivan, 'two accounts') or BAIL_OUT('no accounts');
my $did = $hana->{did};
my ($s, $b);

# ---- authentication
for my $m (['GET', 'getAccountInfo', undef, "did=$did"],
           ['GET', 'getAccountInfos', undef, "dids=$did"],
           ['GET', 'getSubjectStatus', undef, "did=$did"],
           ['POST', 'updateSubjectStatus', { subject => { '$type' => 'com.atproto.admin.defs#repoRef', did => $did },
                                             takedown => { applied => JSON::PP::true() } }],
           ['POST', 'updateAccountPassword', { did => $did, password => 'x-new-password' }],
           ['POST', 'deleteAccount', { did => $did }]) {
    my ($meth, $nsid, $body, $params) = @$m;
    ($s, $b) = adm($meth, $nsid, $body, $params,
                   { Authorization => basic_auth('admin', 'wrong-password') });
    is_deeply([$s, $b->{error}], [401, 'AuthenticationRequired'], "$nsid: wrong admin password: 401");
    ($s, $b) = adm($meth, $nsid, $body, $params, {});
    is_deeply([$s, $b->{error}], [401, 'AuthenticationRequired'], "$nsid: no credentials: 401");
    ($s, $b) = adm($meth, $nsid, $body, $params, { Authorization => "Bearer $hana->{accessJwt}" });
    my $want = $nsid =~ /^(updateAccountPassword|deleteAccount)$/ ? 'AuthenticationRequired' : 'UntrustedIss';
    is_deeply([$s, $b->{error}], [401, $want], "$nsid: a user's Bearer token: 401 $want");
}
($s, $b) = login('hana.test', 'hana-password');
is($s, 200, 'nothing above changed the account');

# ---- getAccountInfo(s)
($s, $b) = adm(GET => 'getAccountInfo', undef, "did=$did");
is($s, 200, 'getAccountInfo');
is($b->{did}, $did, 'did');
is($b->{handle}, 'hana.test', 'handle');
is($b->{email}, 'hana@example.com', 'email');
like($b->{indexedAt} // '', qr/^\d{4}-\d\d-\d\dT/, 'indexedAt');
is(ref $b->{invites}, 'ARRAY', 'invites');
ok(defined $b->{invitesDisabled} && !$b->{invitesDisabled}, 'invitesDisabled false');
ok($b->{invitedBy} && $b->{invitedBy}{code} && $b->{invitedBy}{uses}[0]{usedBy} eq $did,
   'invitedBy: the code used, with its use');
ok(!exists $b->{deactivatedAt} && !exists $b->{emailConfirmedAt}, 'no deactivatedAt, no emailConfirmedAt');

($s, $b) = adm(GET => 'getAccountInfo', undef, 'did=did:plc:aaaaaaaaaaaaaaaaaaaaaaaa');
is_deeply([$s, $b->{error}, $b->{message}], [400, 'NotFound', 'Account not found'], 'unknown DID: 400 NotFound');
($s, $b) = adm(GET => 'getAccountInfo');
is_deeply([$s, $b->{error}], [400, 'InvalidRequest'], 'no did: 400 InvalidRequest');
($s, $b) = adm(GET => 'getAccountInfo', undef, 'did=nope');
is_deeply([$s, $b->{error}], [400, 'InvalidRequest'], 'bad did: 400 InvalidRequest');

($s, $b) = adm(GET => 'getAccountInfos', undef,
               "dids=$did&dids=$ivan->{did}&dids=did:plc:aaaaaaaaaaaaaaaaaaaaaaaa&dids=$did");
is($s, 200, 'getAccountInfos');
is_deeply([sort map { $_->{handle} } @{$b->{infos}}], ['hana.test', 'ivan.test'],
          'known accounts once each; unknown left out');
($s, $b) = adm(GET => 'getAccountInfos');
is_deeply([$s, $b->{error}], [400, 'InvalidRequest'], 'getAccountInfos without dids: 400');

# ---- takedown
($s, $b) = adm(GET => 'getSubjectStatus', undef, "did=$did");
is($s, 200, 'getSubjectStatus');
is_deeply($b, { subject => { '$type' => 'com.atproto.admin.defs#repoRef', did => $did },
                takedown => { applied => JSON::PP::false() },
                deactivated => { applied => JSON::PP::false() } }, 'not taken down');
($s, $b) = adm(GET => 'getSubjectStatus');
is_deeply([$s, $b->{error}, $b->{message}], [400, 'InvalidRequest', 'No provided subject'], 'no subject: 400');
($s, $b) = adm(GET => 'getSubjectStatus', undef, 'did=did:plc:aaaaaaaaaaaaaaaaaaaaaaaa');
is_deeply([$s, $b->{error}, $b->{message}], [400, 'NotFound', 'Subject not found'], 'unknown subject: 400 NotFound');

my $subject = { '$type' => 'com.atproto.admin.defs#repoRef', did => $did };
my $old_refresh = $hana->{refreshJwt};
($s, $b) = adm(POST => 'updateSubjectStatus',
               { subject => $subject, takedown => { applied => JSON::PP::true(), ref => 'case-42' } });
is($s, 200, 'updateSubjectStatus: takedown');
is_deeply($b, { subject => $subject, takedown => { applied => JSON::PP::true(), ref => 'case-42' } },
          'answers subject and takedown');
($s, $b) = adm(GET => 'getSubjectStatus', undef, "did=$did");
is_deeply($b->{takedown}, { applied => JSON::PP::true(), ref => 'case-42' }, 'getSubjectStatus: taken down with its ref');
($s, $b) = login('hana.test', 'hana-password');
is_deeply([$s, $b->{error}], [401, 'AccountTakedown'], 'createSession: 401 AccountTakedown');
($s, $b) = call(POST => 'com.atproto.server.refreshSession', undef, $old_refresh);
is($s, 401, 'refreshSession with the earlier refresh token: 401');
($s, $b) = adm(GET => 'getAccountInfo', undef, "did=$did");
is($s, 200, 'getAccountInfo still answers for a taken-down account');
($s, $b) = login('ivan.test', 'ivan-password');
is($s, 200, 'another account still logs in');

($s, $b) = adm(POST => 'updateSubjectStatus',
               { subject => { '$type' => 'com.atproto.repo.strongRef',
                              uri => "at://$did/app.bsky.feed.post/3aaaaaaaaaaaa", cid => 'bafyreib' },
                 takedown => { applied => JSON::PP::true() } });
is_deeply([$s, $b->{error}], [400, 'InvalidRequest'], 'a record subject with a malformed CID: 400 InvalidRequest (t/56 takes records down)');
($s, $b) = adm(POST => 'updateSubjectStatus', { subject => { '$type' => 'x.y#z', did => $did },
                                                takedown => { applied => JSON::PP::true() } });
is_deeply([$s, $b->{error}], [400, 'InvalidRequest'], 'unknown subject type: 400');
($s, $b) = adm(POST => 'updateSubjectStatus',
               { subject => $subject, takedown => { applied => JSON::PP::true() },
                 deactivated => { applied => JSON::PP::false() } });
is_deeply([$s, $b->{message}], [400, 'Cannot activate and takedown an account at the same time'],
          'takedown and activation together: 400');

($s, $b) = adm(POST => 'updateSubjectStatus', { subject => $subject, takedown => { applied => JSON::PP::false() } });
is($s, 200, 'reversal');
($s, $b) = adm(GET => 'getSubjectStatus', undef, "did=$did");
is_deeply($b->{takedown}, { applied => JSON::PP::false() }, 'no longer taken down');
($s, $b) = login('hana.test', 'hana-password');
is($s, 200, 'login works again');
my $sess = $b;

my @f = frames_of($did);
my @acct = grep { index($_, '#account') >= 0 } @f;
my ($i_td) = grep { index($acct[$_], 'takendown') >= 0 } 0 .. $#acct;
ok(defined $i_td, 'the firehose has #account takendown');
ok(defined $i_td && $i_td + 1 < @acct && index($acct[$i_td + 1], 'takendown') < 0,
   'then an #account without a status (active again)');

# ---- record and blob subjects: no takedown stored, so {applied: false}
{
    my ($s1, $r) = call(POST => 'com.atproto.repo.createRecord',
                        { repo => $ivan->{did}, collection => 'app.bsky.feed.post',
                          record => { '$type' => 'app.bsky.feed.post', text => 'hi',
                                      createdAt => '2026-01-01T00:00:00.000Z' } }, $ivan->{accessJwt});
    is($s1, 200, 'a record');
    (my $q = $r->{uri}) =~ s/([:\/])/sprintf('%%%02X', ord $1)/ge;
    ($s, $b) = adm(GET => 'getSubjectStatus', undef, "uri=$q");
    is_deeply([$s, $b], [200, { subject => { '$type' => 'com.atproto.repo.strongRef', uri => $r->{uri}, cid => $r->{cid} },
                                takedown => { applied => JSON::PP::false() } }], 'getSubjectStatus of a record');
    ($s, $b) = adm(GET => 'getSubjectStatus', undef, "uri=at://$ivan->{did}/app.bsky.feed.post/3aaaaaaaaaaaa");
    is_deeply([$s, $b->{error}], [400, 'NotFound'], 'of a missing record: 400 NotFound');
    my ($s2, $bl) = http_json(POST => "$u/xrpc/com.atproto.repo.uploadBlob", "\x89PNG" . ('z' x 300),
                              { Authorization => "Bearer $ivan->{accessJwt}", 'Content-Type' => 'image/png' });
    my $bc = $bl->{blob}{ref}{'$link'};
    ($s, $b) = adm(GET => 'getSubjectStatus', undef, "did=$ivan->{did}&blob=$bc");
    is_deeply([$s, $b], [200, { subject => { '$type' => 'com.atproto.admin.defs#repoBlobRef', did => $ivan->{did}, cid => $bc },
                                takedown => { applied => JSON::PP::false() } }], 'getSubjectStatus of a blob');
    ($s, $b) = adm(GET => 'getSubjectStatus', undef, "blob=$bc");
    is_deeply([$s, $b->{message}], [400, 'Must provide a did to request blob state'], 'a blob without did: 400');
    ($s, $b) = adm(GET => 'getSubjectStatus', undef,
                   "did=$ivan->{did}&blob=bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku");
    is_deeply([$s, $b->{error}], [400, 'NotFound'], 'an unknown blob: 400 NotFound');
}

# ---- updateAccountPassword
($s, $b) = adm(POST => 'updateAccountPassword', { did => $did, password => 'x' x 257 });
is_deeply([$s, $b->{error}, $b->{message}], [400, 'InvalidRequest', 'Invalid password length.'], 'too long: 400');
($s, $b) = adm(POST => 'updateAccountPassword', { did => $did });
is_deeply([$s, $b->{error}], [400, 'InvalidRequest'], 'no password: 400');
($s, $b) = adm(POST => 'updateAccountPassword', { did => $did, password => 'hana-new-password' });
is($s, 200, 'updateAccountPassword');
($s, $b) = login('hana.test', 'hana-password');
is_deeply([$s, $b->{error}], [401, 'AuthenticationRequired'], 'old password refused');
($s, $b) = call(POST => 'com.atproto.server.refreshSession', undef, $sess->{refreshJwt});
is($s, 400, 'the earlier refresh token is revoked') or diag explain $b;
($s, $b) = login('hana.test', 'hana-new-password');
is($s, 200, 'new password works');

# ---- deleteAccount
($s, $b) = adm(POST => 'deleteAccount', {});
is_deeply([$s, $b->{error}], [400, 'InvalidRequest'], 'deleteAccount without did: 400');
($s, $b) = adm(POST => 'deleteAccount', { did => $did });
is($s, 200, 'deleteAccount');
($s, $b) = adm(GET => 'getAccountInfo', undef, "did=$did");
is_deeply([$s, $b->{error}], [400, 'NotFound'], 'then getAccountInfo: NotFound');
($s, $b) = login('hana.test', 'hana-new-password');
is($s, 401, 'and no login');
($s, $b) = http_json(GET => "$u/xrpc/com.atproto.sync.getRepoStatus?did=$did");
is_deeply([$s, $b->{error}], [400, 'RepoNotFound'], 'its repo is gone');
($s, $b) = adm(POST => 'deleteAccount', { did => $did });
is($s, 200, 'deleting it again: 200, as the reference');
($s, $b) = login('ivan.test', 'ivan-password');
is($s, 200, 'the other account is untouched');

is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes in the error log');
stop_all();
done_testing();
