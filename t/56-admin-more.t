# The operator's methods added to t/52's: invite codes (getInviteCodes with
# the reference's sorts and cursors, disableInviteCodes, dis/enableAccount-
# Invites, and what a disabled code or a taken-down account's code does to
# createAccount and getAccountInviteCodes), updateAccountHandle (PLC
# update, #identity, reserved names allowed), updateAccountEmail, and
# takedowns of one record (repo.getRecord / listRecords stop serving it,
# sync.getRecord still does) and one blob (sync.getBlob and a re-upload
# refused), each undone by its reversal.
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
my ($T, $F) = (JSON::PP::true(), JSON::PP::false());

sub adm {
    my ($method, $nsid, $body, $params, $h) = @_;
    return http_json($method, "$u/xrpc/com.atproto.admin.$nsid" . ($params ? "?$params" : ''),
                     $body, $h // $admin);
}

sub call {
    my ($method, $nsid, $body, $token, $params) = @_;
    my $h = $token ? { Authorization => "Bearer $token" } : {};
    return http_json($method, "$u/xrpc/$nsid" . ($params ? "?$params" : ''), $body, $h);
}

sub esc { (my $q = shift) =~ s/([^A-Za-z0-9._~-])/sprintf('%%%02X', ord $1)/ge; $q }

sub new_code {
    my (%o) = @_;
    my ($s, $b) = http_json(POST => "$u/xrpc/com.atproto.server.createInviteCode",
                            { useCount => $o{uses} // 1, ($o{for} ? (forAccount => $o{for}) : ()) }, $admin);
    return $s == 200 ? $b->{code} : undef;
}

sub signup {
    my ($handle, $code) = @_;
    return call(POST => 'com.atproto.server.createAccount',
                { handle => $handle, email => "$handle\@example.com", password => "pw-$handle",
                  inviteCode => $code });
}

my $ada = create_account($pds, handle => 'ada.test', password => 'ada-password');
my $bea = create_account($pds, handle => 'bea.test', password => 'bea-password');
ok($ada && $bea, 'two accounts') or BAIL_OUT('no accounts');
my ($s, $b);

# ---- authentication: the moderator methods answer a user's token with
# ---- UntrustedIss, the account methods with AuthenticationRequired
for my $m (['GET', 'getInviteCodes', undef, undef, 'UntrustedIss'],
           ['POST', 'disableInviteCodes', { codes => ['x'] }, undef, 'UntrustedIss'],
           ['POST', 'disableAccountInvites', { account => $ada->{did} }, undef, 'UntrustedIss'],
           ['POST', 'enableAccountInvites', { account => $ada->{did} }, undef, 'UntrustedIss'],
           ['POST', 'updateAccountHandle', { did => $ada->{did}, handle => 'adb.test' }, undef,
            'AuthenticationRequired'],
           ['POST', 'updateAccountEmail', { account => $ada->{did}, email => 'x@example.com' }, undef,
            'AuthenticationRequired']) {
    my ($meth, $nsid, $body, $params, $want) = @$m;
    ($s, $b) = adm($meth, $nsid, $body, $params, { Authorization => basic_auth('admin', 'wrong') });
    is_deeply([$s, $b->{error}], [401, 'AuthenticationRequired'], "$nsid: wrong admin password: 401");
    ($s, $b) = adm($meth, $nsid, $body, $params, {});
    is_deeply([$s, $b->{error}], [401, 'AuthenticationRequired'], "$nsid: no credentials: 401");
    ($s, $b) = adm($meth, $nsid, $body, $params, { Authorization => "Bearer $ada->{accessJwt}" });
    is_deeply([$s, $b->{error}], [401, $want], "$nsid: a user's Bearer token: 401 $want");
}
($s, $b) = adm(GET => 'getAccountInfo', undef, "did=$ada->{did}");
is_deeply([$s, $b->{handle}, $b->{invitesDisabled}], [200, 'ada.test', $F], 'nothing above changed ada');

# ---- getInviteCodes: every code, in both orders, page by page
my @mine;
for my $n (1 .. 3) { push @mine, new_code(uses => 3) }
ok(3 == grep({ defined } @mine), 'three more codes');
# uses: 2 of the first code, 1 of the second
my $k = 0;
for my $i (0, 0, 1) {
    $k++;
    ($s, $b) = signup("use$k.test", $mine[$i]);
    is($s, 200, "an account with code $i") or diag explain $b;
}

sub all_pages {
    my ($sort, $limit) = @_;
    my (@codes, %seen, $cursor, $pages);
    for (1 .. 50) {
        my ($st, $page) = adm(GET => 'getInviteCodes', undef,
                              "sort=$sort&limit=$limit" . (defined $cursor ? '&cursor=' . esc($cursor) : ''));
        return (undef, "status $st") unless $st == 200;
        $pages++;
        ok(@{ $page->{codes} } <= $limit, "$sort page $pages: at most $limit codes") if $pages == 1;
        push @codes, @{ $page->{codes} };
        last unless @{ $page->{codes} } && defined $page->{cursor};
        $cursor = $page->{cursor};
    }
    return (\@codes, $pages);
}

my ($all, $pages) = all_pages('recent', 2);
ok($all, 'recent: pages') or diag $pages;
my %by = map { $_->{code} => $_ } @$all;
is(scalar(keys %by), scalar(@$all), 'recent: no code twice across pages');
ok(!grep({ !$by{$_} } @mine), 'recent: every code is listed');
ok($pages >= 3, "recent: more than one page ($pages)");
my @keys = map { [$_->{createdAt}, $_->{code}] } @$all;
ok(!grep({ my $i = $_; $keys[$i - 1][0] lt $keys[$i][0]
             || ($keys[$i - 1][0] eq $keys[$i][0] && $keys[$i - 1][1] le $keys[$i][1]) } 1 .. $#keys),
   'recent: newest first, then code descending');
is(scalar @{ $by{$mine[0]}{uses} }, 2, 'the first code shows its two uses');
is_deeply([sort keys %{ $by{$mine[0]} }],
          [qw(available code createdAt createdBy disabled forAccount uses)], 'a code has the inviteCode fields');
is_deeply([@{ $by{$mine[0]} }{qw(available disabled forAccount createdBy)}], [3, $F, 'admin', 'admin'],
          'available, disabled, forAccount, createdBy');

my ($usage) = all_pages('usage', 2);
ok($usage, 'usage: pages');
is(scalar @$usage, scalar @$all, 'usage lists as many codes');
my @u = map { scalar @{ $_->{uses} } } @$usage;
ok(!grep({ $u[$_ - 1] < $u[$_] } 1 .. $#u), 'usage: most used first');
is($usage->[0]{code}, $mine[0], 'the code used twice comes first');
($s, $b) = adm(GET => 'getInviteCodes', undef, 'sort=usage&limit=1');
is($b->{cursor}, "2::$mine[0]", 'a usage cursor is "<uses>::<code>"');
($s, $b) = adm(GET => 'getInviteCodes', undef, 'limit=1');
like($b->{cursor}, qr/^\d{13}::\Q$b->{codes}[0]{code}\E$/, 'a recent cursor is "<ms>::<code>"');

for my $bad (['sort=bogus', 'unknown sort method: bogus'],
             ['limit=0', 'Invalid com.atproto.admin.getInviteCodes params: integer too small (minimum 1, got 0)'],
             ['limit=501', 'Invalid com.atproto.admin.getInviteCodes params: integer too big (maximum 500, got 501)'],
             ['cursor=abc', 'Malformed cursor'], ['cursor=abc%3A%3Adef', 'Malformed cursor'],
             ['cursor=1%3A%3A2%3A%3A3', 'Malformed cursor']) {
    ($s, $b) = adm(GET => 'getInviteCodes', undef, $bad->[0]);
    is_deeply([$s, $b->{error}, $b->{message}], [400, 'InvalidRequest', $bad->[1]], "getInviteCodes $bad->[0]: 400");
}
($s, $b) = adm(GET => 'getInviteCodes', undef, 'cursor=0%3A%3Ax');
is_deeply([$s, $b], [200, { codes => [] }], 'a cursor before every code: no codes, no cursor');

# ---- disableInviteCodes: a disabled code is refused by createAccount
($s, $b) = adm(POST => 'disableInviteCodes', { accounts => ['admin'] });
is_deeply([$s, $b->{message}], [400, 'cannot disable admin invite codes'], 'accounts ["admin"]: 400');
($s, $b) = adm(POST => 'disableInviteCodes', { codes => [1] });
is_deeply([$s, $b->{message}], [400, 'Expected string value type (got 1) at $.codes[0]'], 'codes [1]: 400');
($s, $b) = adm(POST => 'disableInviteCodes', { codes => ['no-such-code'] });
is($s, 200, 'an unknown code: 200');
($s, $b) = adm(POST => 'disableInviteCodes', { codes => [$mine[2]] });
is($s, 200, 'disableInviteCodes');
($s, $b) = signup('late.test', $mine[2]);
is_deeply([$s, $b->{error}, $b->{message}], [400, 'InvalidInviteCode', 'Provided invite code not available'],
          'createAccount with the disabled code: 400 InvalidInviteCode');
($s, $b) = adm(GET => 'getInviteCodes', undef, 'limit=500');
my ($c2) = grep { $_->{code} eq $mine[2] } @{ $b->{codes} };
is($c2 && $c2->{disabled}, $T, 'getInviteCodes shows it disabled');
($s, $b) = signup('late.test', $mine[1]);
is($s, 200, 'another code still works');

# codes made for an account: listed to it, then disabled by account
my $for = new_code(for => $ada->{did}, uses => 2);
($s, $b) = call(GET => 'com.atproto.server.getAccountInviteCodes', undef, $ada->{accessJwt});
is_deeply([$s, [map { $_->{code} } @{ $b->{codes} }]], [200, [$for]], "ada's code is listed to her");
($s, $b) = adm(POST => 'disableInviteCodes', { accounts => [$ada->{did}] });
is($s, 200, 'disableInviteCodes by account');
($s, $b) = call(GET => 'com.atproto.server.getAccountInviteCodes', undef, $ada->{accessJwt});
is_deeply([$s, $b], [200, { codes => [] }], 'getAccountInviteCodes leaves disabled codes out');
($s, $b) = adm(GET => 'getAccountInfo', undef, "did=$ada->{did}");
is_deeply([map { $_->{disabled} } @{ $b->{invites} }], [$T], 'getAccountInfo shows the code disabled');

# a code made for a taken-down account is not available
my $bcode = new_code(for => $bea->{did}, uses => 2);
my $bsubj = { '$type' => 'com.atproto.admin.defs#repoRef', did => $bea->{did} };
($s, $b) = adm(POST => 'updateSubjectStatus', { subject => $bsubj, takedown => { applied => $T } });
is($s, 200, 'bea taken down');
($s, $b) = signup('viabea.test', $bcode);
is_deeply([$s, $b->{error}], [400, 'InvalidInviteCode'], "a code of a taken-down account: 400 InvalidInviteCode");
($s, $b) = adm(POST => 'updateSubjectStatus', { subject => $bsubj, takedown => { applied => $F } });
is($s, 200, 'bea restored');
($s, $b) = signup('viabea.test', $bcode);
is($s, 200, 'then her code works');

# ---- disable/enableAccountInvites
($s, $b) = adm(POST => 'disableAccountInvites', {});
is_deeply([$s, $b->{message}], [400, 'Missing required key "account" at $'], 'no account: 400');
($s, $b) = adm(POST => 'disableAccountInvites', { account => 'nope' });
is_deeply([$s, $b->{message}], [400, 'Invalid DID (got "nope") at $.account'], 'not a DID: 400');
($s, $b) = adm(POST => 'disableAccountInvites', { account => 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa' });
is($s, 200, 'an unknown DID: 200, as the reference');
($s, $b) = adm(POST => 'disableAccountInvites', { account => $bea->{did}, note => 'spam' });
is($s, 200, 'disableAccountInvites');
($s, $b) = adm(GET => 'getAccountInfo', undef, "did=$bea->{did}");
is($b->{invitesDisabled}, $T, 'invitesDisabled: true');
($s, $b) = adm(POST => 'enableAccountInvites', { account => $bea->{did} });
($s, $b) = adm(GET => 'getAccountInfo', undef, "did=$bea->{did}");
is($b->{invitesDisabled}, $F, 'enableAccountInvites: false again');

# ---- updateAccountHandle
($s, $b) = adm(POST => 'updateAccountHandle', { did => 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', handle => 'zed.test' });
is_deeply([$s, $b->{message}], [400, 'Account not found'], 'unknown DID: 400 Account not found');
($s, $b) = adm(POST => 'updateAccountHandle', { did => $ada->{did}, handle => 'bea.test' });
is_deeply([$s, $b->{error}, $b->{message}], [400, 'HandleNotAvailable', 'Handle already taken: bea.test'],
          "another account's handle: 400 HandleNotAvailable");
($s, $b) = adm(POST => 'updateAccountHandle', { did => $ada->{did}, handle => 'ab.test' });
is_deeply([$s, $b->{error}, $b->{message}], [400, 'InvalidHandle', 'Handle too short'], 'too short: 400');
($s, $b) = adm(POST => 'updateAccountHandle', { did => $ada->{did}, handle => 'ada.local' });
is_deeply([$s, $b->{error}, $b->{message}], [400, 'InvalidHandle', 'Handle TLD is invalid or disallowed'],
          'a disallowed TLD: 400 InvalidHandle (the check identity.updateHandle makes)');
($s, $b) = adm(POST => 'updateAccountHandle', { did => $ada->{did}, handle => 'ada.example.com' });
is_deeply([$s, $b->{message}], [400, 'External handle did not resolve to DID'], 'another domain: 400');
($s, $b) = adm(POST => 'updateAccountHandle', { did => $ada->{did}, handle => 'Support.TEST' });
is($s, 200, 'a reserved name is allowed to the operator') or diag explain $b;
($s, $b) = call(GET => 'com.atproto.identity.resolveHandle', undef, undef, 'handle=support.test');
is_deeply([$s, $b->{did}], [200, $ada->{did}], 'the new handle resolves (lower case)');
($s, $b) = call(GET => 'com.atproto.identity.resolveHandle', undef, undef, 'handle=ada.test');
is($s, 400, 'the old one no longer does');
($s, $b) = http_json(GET => "$pds->{plc}/$ada->{did}/data");
is_deeply([$s, $b->{alsoKnownAs}], [200, ['at://support.test']], 'the PLC directory has the new handle');
($s, $b) = call(POST => 'com.atproto.server.createSession', { identifier => 'support.test', password => 'ada-password' });
is($s, 200, 'ada logs in with it');
{
    my ($ws, $why) = ws_open($pds->{port}, 'localhost', '?cursor=0');
    ok($ws, 'subscribeRepos from cursor 0') or diag $why;
    my @f = $ws ? grep { index($_, $ada->{did}) >= 0 && index($_, '#identity') >= 0 }
                  map { $_->[1] } grep { $_->[0] == 2 } ws_frames($ws, 1.5) : ();
    ws_close($ws) if $ws;
    ok(scalar(grep { index($_, 'support.test') >= 0 } @f), 'an #identity event with the new handle');
}

# ---- updateAccountEmail
($s, $b) = adm(POST => 'updateAccountEmail', { account => 'nobody.test', email => 'x@example.com' });
is_deeply([$s, $b->{message}], [400, 'Account does not exist: nobody.test'], 'unknown handle: 400');
($s, $b) = adm(POST => 'updateAccountEmail', { account => 'nope nope', email => 'x@example.com' });
is_deeply([$s, $b->{message}], [400, 'Invalid AT identifier (got "nope nope") at $.account'], 'not an identifier: 400');
($s, $b) = adm(POST => 'updateAccountEmail', { account => 'support.test', email => 'Ada.New@Example.COM' });
is($s, 200, 'updateAccountEmail by handle');
($s, $b) = adm(GET => 'getAccountInfo', undef, "did=$ada->{did}");
is_deeply([$b->{email}, exists $b->{emailConfirmedAt}], ['ada.new@example.com', ''], 'stored in lower case, unconfirmed');
($s, $b) = call(POST => 'com.atproto.server.createSession', { identifier => 'ada.new@example.com', password => 'ada-password' });
is($s, 200, 'login by the new address');
($s, $b) = adm(POST => 'updateAccountEmail', { account => $ada->{did}, email => $bea->{email} });
is_deeply([$s, $b->{error}], [400, 'InvalidRequest'], "another account's address: 400 (the reference: 500)");
for my $n (255, 600, 1000) {    # found by t/05's fuzzer: these were 500s
    ($s, $b) = adm(POST => 'updateAccountEmail', { account => $ada->{did}, email => ('a' x ($n - 12)) . '@example.com' });
    is_deeply([$s, $b->{error}], [400, 'InvalidRequest'], "an address of $n bytes: 400, not 500");
}
($s, $b) = adm(POST => 'updateAccountEmail', { account => $ada->{did}, email => "a\x{0}b\@example.com" });
is_deeply([$s, $b->{error}], [400, 'InvalidRequest'], 'an address with a NUL: 400');
($s, $b) = adm(GET => 'getAccountInfo', undef, "did=$ada->{did}");
is($b->{email}, 'ada.new@example.com', '... the address is unchanged');

# ---- a record's takedown
my $post = { '$type' => 'app.bsky.feed.post', text => 'first', createdAt => '2026-01-01T00:00:00.000Z' };
my @uris;
for my $rk (qw(3jzfcijpj2z2a 3jzfcijpj2z2b 3jzfcijpj2z2c)) {
    ($s, $b) = call(POST => 'com.atproto.repo.putRecord',
                    { repo => $bea->{did}, collection => 'app.bsky.feed.post', rkey => $rk, record => $post },
                    $bea->{accessJwt});
    push @uris, [$b->{uri}, $b->{cid}, $rk];
}
is(scalar(grep { $_->[0] } @uris), 3, 'three records');
my ($turi, $tcid, $trk) = @{ $uris[1] };
my $rsubj = { '$type' => 'com.atproto.repo.strongRef', uri => $turi, cid => $tcid };
($s, $b) = adm(POST => 'updateSubjectStatus', { subject => $rsubj, takedown => { applied => $T, ref => 'MOD-1' } });
is_deeply([$s, $b], [200, { subject => $rsubj, takedown => { applied => $T, ref => 'MOD-1' } }],
          'record takedown: the subject and takedown echoed');
($s, $b) = adm(GET => 'getSubjectStatus', undef, 'uri=' . esc($turi));
is_deeply([$s, $b], [200, { subject => $rsubj, takedown => { applied => $T, ref => 'MOD-1' } }],
          'getSubjectStatus: applied, with its ref');
my $gr = "repo=$bea->{did}&collection=app.bsky.feed.post&rkey=$trk";
($s, $b) = call(GET => 'com.atproto.repo.getRecord', undef, undef, $gr);
is_deeply([$s, $b->{error}, $b->{message}], [400, 'RecordNotFound', "Could not locate record: $turi"],
          'repo.getRecord: 400 RecordNotFound');
($s, $b) = call(GET => 'com.atproto.repo.getRecord', undef, undef,
                "repo=$bea->{did}&collection=app.bsky.feed.post&rkey=$uris[0][2]");
is($s, 200, 'its neighbour is served');
($s, $b) = call(GET => 'com.atproto.repo.listRecords', undef, undef,
                "repo=$bea->{did}&collection=app.bsky.feed.post");
is_deeply([$s, [map { $_->{uri} } @{ $b->{records} }]], [200, [$uris[2][0], $uris[0][0]]],
          'listRecords leaves it out');
($s, $b) = call(GET => 'com.atproto.repo.listRecords', undef, undef,
                "repo=$bea->{did}&collection=app.bsky.feed.post&limit=1&cursor=$uris[2][2]");
is_deeply([$s, [map { $_->{uri} } @{ $b->{records} }], $b->{cursor}], [200, [], $trk],
          'a page holding only it: empty, with the cursor past it');
my ($s3, undef, $raw) = http_json(GET => "$u/xrpc/com.atproto.sync.getRecord?did=$bea->{did}&collection=app.bsky.feed.post&rkey=$trk");
is_deeply([$s3, $raw->{headers}{'content-type'}], [200, 'application/vnd.ipld.car'],
          'sync.getRecord still serves it (as the reference: the repo stays verifiable)');
($s, $b) = call(POST => 'com.atproto.repo.putRecord',
                { repo => $bea->{did}, collection => 'app.bsky.feed.post', rkey => $trk,
                  record => { %$post, text => 'edited' } }, $bea->{accessJwt});
is($s, 200, 'the owner updates it');
($s, $b) = call(GET => 'com.atproto.repo.getRecord', undef, undef, $gr);
is($s, 400, 'still not served after an update (the takedown is of the record, as the reference)');
($s, $b) = adm(POST => 'updateSubjectStatus', { subject => $rsubj, takedown => { applied => $F } });
is($s, 200, 'record takedown reversed');
($s, $b) = call(GET => 'com.atproto.repo.getRecord', undef, undef, $gr);
is_deeply([$s, $b->{value}{text}], [200, 'edited'], 'served again');
($s, $b) = adm(GET => 'getSubjectStatus', undef, 'uri=' . esc($turi));
is_deeply($b->{takedown}, { applied => $F }, 'getSubjectStatus: not applied');
($s, $b) = adm(POST => 'updateSubjectStatus',
               { subject => { %$rsubj, uri => "at://$bea->{did}/app.bsky.feed.post/3jzfcijpj2z2z" },
                 takedown => { applied => $T } });
is($s, 200, 'a missing record: 200, nothing stored');
($s, $b) = call(POST => 'com.atproto.repo.putRecord',
                { repo => $bea->{did}, collection => 'app.bsky.feed.post', rkey => '3jzfcijpj2z2z', record => $post },
                $bea->{accessJwt});
($s, $b) = call(GET => 'com.atproto.repo.getRecord', undef, undef,
                "repo=$bea->{did}&collection=app.bsky.feed.post&rkey=3jzfcijpj2z2z");
is($s, 200, 'so a record made there later is served');
# a takedown goes with its record: one made again at that rkey is served
($s, $b) = adm(POST => 'updateSubjectStatus', { subject => $rsubj, takedown => { applied => $T, ref => 'MOD-2' } });
is($s, 200, 'the record taken down again');
($s, $b) = call(POST => 'com.atproto.repo.deleteRecord',
                { repo => $bea->{did}, collection => 'app.bsky.feed.post', rkey => $trk }, $bea->{accessJwt});
is($s, 200, 'its owner deletes it');
($s, $b) = call(POST => 'com.atproto.repo.putRecord',
                { repo => $bea->{did}, collection => 'app.bsky.feed.post', rkey => $trk,
                  record => { %$post, text => 'new one' } }, $bea->{accessJwt});
is($s, 200, '... and makes a new one at the same rkey');
($s, $b) = call(GET => 'com.atproto.repo.getRecord', undef, undef, $gr);
is_deeply([$s, $b->{value}{text}], [200, 'new one'],
          'the new record is served (the takedown went with the deleted one, as the reference\'s row)');
($s, $b) = adm(POST => 'updateSubjectStatus',
               { subject => { %$rsubj, uri => 'at://did:plc:aaaaaaaaaaaaaaaaaaaaaaaa/app.bsky.feed.post/x' },
                 takedown => { applied => $T } });
is_deeply([$s, $b->{error}], [400, 'NotFound'], 'a record of an unknown repo: 400 NotFound (the reference: 500)');

# ---- a blob's takedown
my $bytes = "\x89PNG" . join('', map { chr(($_ * 7) % 251) } 1 .. 700);
my ($sb, $bl) = http_json(POST => "$u/xrpc/com.atproto.repo.uploadBlob", $bytes,
                          { Authorization => "Bearer $bea->{accessJwt}", 'Content-Type' => 'image/png' });
my $bc = $bl->{blob}{ref}{'$link'};
my ($sb2, $bl2) = http_json(POST => "$u/xrpc/com.atproto.repo.uploadBlob", "\x89PNG other",
                            { Authorization => "Bearer $bea->{accessJwt}", 'Content-Type' => 'image/png' });
ok($bc && $sb2 == 200, 'two blobs');
my $bsub = { '$type' => 'com.atproto.admin.defs#repoBlobRef', did => $bea->{did}, cid => $bc };
($s, $b) = adm(POST => 'updateSubjectStatus', { subject => $bsub, takedown => { applied => $T } });
is($s, 200, 'blob takedown');
($s, $b) = adm(GET => 'getSubjectStatus', undef, "did=$bea->{did}&blob=$bc");
is_deeply([$s, $b->{subject}, $b->{takedown}{applied}], [200, $bsub, $T], 'getSubjectStatus: applied');
like($b->{takedown}{ref} // '', qr/^\d{4}-\d\d-\d\dT/, 'with a ref made of the time (none was given)');
($s, $b) = http_json(GET => "$u/xrpc/com.atproto.sync.getBlob?did=$bea->{did}&cid=$bc");
is_deeply([$s, $b->{error}, $b->{message}], [400, 'InvalidRequest', 'Blob not found'], 'sync.getBlob: 400 Blob not found');
($s, $b) = http_json(GET => "$u/xrpc/com.atproto.sync.getBlob?did=$bea->{did}&cid=$bl2->{blob}{ref}{'$link'}");
is($s, 200, 'the other blob is served');
($s, $b) = http_json(POST => "$u/xrpc/com.atproto.repo.uploadBlob", $bytes,
                     { Authorization => "Bearer $bea->{accessJwt}", 'Content-Type' => 'image/png' });
is_deeply([$s, $b->{message}], [400, 'Blob has been takendown, cannot re-upload'], 'uploading it again: 400');
my $embed = sub { +{ %$post, embed => { '$type' => 'app.bsky.embed.images',
                                         images => [{ alt => '', image => $bl->{blob} }] } } };
($s, $b) = call(POST => 'com.atproto.repo.createRecord',
                { repo => $bea->{did}, collection => 'app.bsky.feed.post', record => $embed->() },
                $bea->{accessJwt});
is_deeply([$s, $b->{error}, $b->{message}], [400, 'BlobNotFound', "Could not find blob: $bc"],
          'a record referencing it: 400 BlobNotFound') or diag explain [$s, $b];
($s, $b) = adm(POST => 'updateSubjectStatus', { subject => $bsub, takedown => { applied => $F } });
is($s, 200, 'blob takedown reversed');
($s, $b) = call(POST => 'com.atproto.repo.createRecord',
                { repo => $bea->{did}, collection => 'app.bsky.feed.post', record => $embed->() },
                $bea->{accessJwt});
is($s, 200, 'then a record may reference it') or diag explain $b;
my ($sg, $got) = http_json(GET => "$u/xrpc/com.atproto.sync.getBlob?did=$bea->{did}&cid=$bc");
is_deeply([$sg, $got eq $bytes], [200, 1], 'served again, the same bytes');
($s, $b) = adm(POST => 'updateSubjectStatus',
               { subject => { %$bsub, cid => 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku' },
                 takedown => { applied => $T } });
is($s, 200, 'a blob the account does not have: 200, nothing stored');
($s, $b) = adm(GET => 'getSubjectStatus', undef,
               "did=$bea->{did}&blob=bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku");
is_deeply([$s, $b->{error}], [400, 'NotFound'], 'and it is still not a subject');

is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes in the error log');
stop_all();
done_testing();
