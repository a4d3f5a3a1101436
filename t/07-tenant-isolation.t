# Tenant isolation: three tenants in one nginx (one server block each, own
# hostname, data directory, secrets and handle domain; the tenant is chosen
# by the Host header), and a matrix of attempts to reach one tenant's
# accounts and data through another: access and refresh tokens, app
# passwords, the admin password, invite codes, reads of repos, records and
# blobs, the firehose, handles (resolveHandle, /.well-known/atproto-did)
# and creating an account with another tenant's handle or DID.
#
# Each attempt must be refused, and refused exactly as the same request is
# for something that does not exist (same status, same error name), so a
# tenant cannot even learn that the other one has it.  Tenant gamma shares
# alpha's JWT secret (a plausible misconfiguration): tokens must still not
# cross, by their audience.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Cwd qw(abs_path);
use PDSTest qw(scratch_dir start_nginx start_plc free_port http_json basic_auth
               stop_all log_problems module_path);
use PDSFuzz qw(ws_open ws_frames ws_close tenant_conf new_account);

my $module = module_path();
plan skip_all => "no module at $module (run make)" unless -f $module;

my $dir = scratch_dir();
my $plc = start_plc($dir) or plan skip_all => 'no PLC directory (npm packages missing)';
my $port = free_port();
my $port2 = free_port();      # a listener where beta is the only server
my $dns = free_port();        # a resolver that answers nothing
my $shared = $ENV{PDS_SHARED_DIR} || abs_path('.') . '/../shared';
my $lex = -d "$shared/lexicons/app/bsky" ? "pds_lexicons $shared/lexicons;" : '';

my %T = (
    alpha => { hostname => 'alpha.example', domain => '.alpha.test', admin => "alpha-admin-$$",
               jwt => "alpha-jwt-$$", key => 'a1' x 32 },
    beta  => { hostname => 'beta.example', domain => '.beta.test', admin => "beta-admin-$$",
               jwt => "beta-jwt-$$", key => 'b2' x 32, default => 1, listen => [$port2] },
    gamma => { hostname => 'gamma.example', domain => '.gamma.test', admin => "gamma-admin-$$",
               jwt => "alpha-jwt-$$", key => 'c3' x 32 },
);
my @names = qw(alpha beta gamma);

my $conf = <<"END";
load_module $module;
worker_processes 2;
error_log $dir/logs/error.log info;
pid $dir/nginx.pid;
thread_pool pds threads=2;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $dir/tmp;
    resolver 127.0.0.1:$dns;
    resolver_timeout 1s;
END
$conf .= tenant_conf(%{ $T{$_} }, name => $_, port => $port, plc => $plc, dir => $dir,
                     extra => $lex) for @names;
$conf .= "}\n";
start_nginx($dir, $conf, $port);

my $url = "http://127.0.0.1:$port";

# a call to tenant $t (by its Host header)
sub call {
    my ($t, $method, $nsid, $body, %h) = @_;
    my $host = delete $h{host} // $T{$t}{hostname};
    my $target = $nsid =~ m{^/} ? $nsid : "/xrpc/$nsid";
    return http_json($method, "$url$target", $body, { Host => $host, %h });
}
sub bearer { (Authorization => "Bearer $_[0]") }
sub admin_of { (Authorization => basic_auth('admin', $T{ $_[0] }{admin})) }
sub err { my $d = shift; ref $d eq 'HASH' ? ($d->{error} // '') : '(not JSON)' }

# ---- each tenant: an account, records, a blob, an app password, an invite

for my $t (@names) {
    my $T = $T{$t};
    my $acc = eval { new_account($url, $T->{hostname}, $T->{admin}, "alice$T->{domain}",
                                 "$t-alice-password") };
    ok($acc, "$t: account alice$T->{domain}") or BAIL_OUT("no account on $t: $@");
    $T->{acc} = $acc;
    my ($s, $blob) = call($t, POST => 'com.atproto.repo.uploadBlob', "\x89PNG $t " . ('x' x 100),
                          bearer($acc->{accessJwt}), 'Content-Type' => 'image/png');
    is($s, 200, "$t: uploadBlob");
    $T->{blob} = $blob->{blob}{ref}{'$link'};
    ($s, my $rec) = call($t, POST => 'com.atproto.repo.createRecord',
                         { repo => $acc->{did}, collection => 'app.bsky.feed.post',
                           record => { '$type' => 'app.bsky.feed.post', text => "$t says hi",
                                       createdAt => '2026-01-01T00:00:00.000Z',
                                       embed => { '$type' => 'app.bsky.embed.images',
                                                  images => [{ alt => '', image => $blob->{blob} }] } } },
                         bearer($acc->{accessJwt}));
    is($s, 200, "$t: createRecord with the blob");
    $T->{uri} = $rec->{uri};
    $T->{cid} = $rec->{cid};
    ($T->{rkey}) = $rec->{uri} =~ m{/([^/]+)$};
    ($s, my $ap) = call($t, POST => 'com.atproto.server.createAppPassword', { name => 'iso' },
                        bearer($acc->{accessJwt}));
    is($s, 200, "$t: createAppPassword");
    $T->{apppass} = $ap->{password};
    ($s, my $inv) = call($t, POST => 'com.atproto.server.createInviteCode', { useCount => 1 },
                         admin_of($t));
    is($s, 200, "$t: a spare invite code");
    $T->{invite} = $inv->{code};
    ($s, my $lc) = call($t, GET => "com.atproto.sync.getLatestCommit?did=$acc->{did}");
    $T->{commit} = $lc->{cid};
}

# positive controls: each tenant answers for its own things
for my $t (@names) {
    my $A = $T{$t}{acc};
    my ($s) = call($t, GET => 'com.atproto.server.getSession', undef, bearer($A->{accessJwt}));
    is($s, 200, "$t: its own access token works");
    ($s) = call($t, GET => "com.atproto.repo.getRecord?repo=$A->{did}&collection=app.bsky.feed.post&rkey=$T{$t}{rkey}");
    is($s, 200, "$t: its own record reads");
    ($s) = call($t, GET => "com.atproto.sync.getBlob?did=$A->{did}&cid=$T{$t}{blob}");
    is($s, 200, "$t: its own blob reads");
    ($s, my $d) = call($t, GET => "com.atproto.identity.resolveHandle?handle=alice$T{$t}{domain}");
    is($d->{did} // '', $A->{did}, "$t: resolves its own handle");
}

# ---- the matrix

# $what through $y refused like the same request for a thing that does
# not exist: same status (4xx), same error name
sub refused_like {
    my ($name, $cross, $none) = @_;
    my ($s1, $d1) = @$cross;
    my ($s2, $d2) = @$none;
    my $e1 = err($d1);
    my $e2 = err($d2);
    ok($s1 >= 400 && $s1 < 500 && $s1 == $s2 && $e1 eq $e2,
       "$name: refused $s1 $e1, as for a thing that does not exist")
        or diag "cross-tenant: $s1 " . (ref $d1 ? join(' ', map { "$_=$d1->{$_}" } sort keys %$d1) : substr($d1, 0, 200))
              . "\nnon-existent: $s2 " . (ref $d2 ? join(' ', map { "$_=$d2->{$_}" } sort keys %$d2) : substr($d2, 0, 200));
}

my $fake_did = 'did:plc:' . join '', map { ('a' .. 'z', 2 .. 7)[rand 32] } 1 .. 24;
my $fake_cid = 'bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy';
my $fake_rcid = 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm';
my $garbage_jwt = 'eyJhbGciOiJIUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiJkaWQ6cGxjOnh4eCJ9.c2lnbmF0dXJl';

for my $pair (['alpha', 'beta'], ['beta', 'alpha'], ['alpha', 'gamma'], ['gamma', 'alpha'],
              ['beta', 'gamma'])
{
    my ($x, $y) = @$pair;
    my $X = $T{$x};
    my $Y = $T{$y};
    my $XA = $X->{acc};
    my $YA = $Y->{acc};
    my $p = "$x -> $y";

    # tokens
    refused_like("$p: $x\'s access token on getSession",
                 [call($y, GET => 'com.atproto.server.getSession', undef, bearer($XA->{accessJwt}))],
                 [call($y, GET => 'com.atproto.server.getSession', undef, bearer($garbage_jwt))]);
    refused_like("$p: $x\'s access token writing $x\'s DID",
                 [call($y, POST => 'com.atproto.repo.createRecord',
                       { repo => $XA->{did}, collection => 'app.bsky.feed.post',
                         record => { text => 'cross', createdAt => '2026-01-01T00:00:00.000Z' } },
                       bearer($XA->{accessJwt}))],
                 [call($y, POST => 'com.atproto.repo.createRecord',
                       { repo => $XA->{did}, collection => 'app.bsky.feed.post',
                         record => { text => 'cross', createdAt => '2026-01-01T00:00:00.000Z' } },
                       bearer($garbage_jwt))]);
    refused_like("$p: $x\'s access token writing $y\'s account",
                 [call($y, POST => 'com.atproto.repo.createRecord',
                       { repo => $YA->{did}, collection => 'app.bsky.feed.post',
                         record => { text => 'cross', createdAt => '2026-01-01T00:00:00.000Z' } },
                       bearer($XA->{accessJwt}))],
                 [call($y, POST => 'com.atproto.repo.createRecord',
                       { repo => $YA->{did}, collection => 'app.bsky.feed.post',
                         record => { text => 'cross', createdAt => '2026-01-01T00:00:00.000Z' } },
                       bearer($garbage_jwt))]);
    refused_like("$p: $x\'s refresh token on refreshSession",
                 [call($y, POST => 'com.atproto.server.refreshSession', undef, bearer($XA->{refreshJwt}))],
                 [call($y, POST => 'com.atproto.server.refreshSession', undef, bearer($garbage_jwt))]);
    refused_like("$p: $x\'s refresh token on getSession",
                 [call($y, GET => 'com.atproto.server.getSession', undef, bearer($XA->{refreshJwt}))],
                 [call($y, GET => 'com.atproto.server.getSession', undef, bearer($garbage_jwt))]);

    # passwords
    refused_like("$p: $x\'s handle and password on createSession",
                 [call($y, POST => 'com.atproto.server.createSession',
                       { identifier => $XA->{handle}, password => $XA->{password} })],
                 [call($y, POST => 'com.atproto.server.createSession',
                       { identifier => "nobody$X->{domain}", password => $XA->{password} })]);
    refused_like("$p: $x\'s DID and app password on createSession",
                 [call($y, POST => 'com.atproto.server.createSession',
                       { identifier => $XA->{did}, password => $X->{apppass} })],
                 [call($y, POST => 'com.atproto.server.createSession',
                       { identifier => $fake_did, password => $X->{apppass} })]);
    refused_like("$p: $x\'s admin password on createInviteCode",
                 [call($y, POST => 'com.atproto.server.createInviteCode', { useCount => 1 }, admin_of($x))],
                 [call($y, POST => 'com.atproto.server.createInviteCode', { useCount => 1 },
                       Authorization => basic_auth('admin', 'not-the-password'))]);
    refused_like("$p: $x\'s admin password on createInviteCodes",
                 [call($y, POST => 'com.atproto.server.createInviteCodes', { useCount => 1, codeCount => 2 },
                       admin_of($x))],
                 [call($y, POST => 'com.atproto.server.createInviteCodes', { useCount => 1, codeCount => 2 },
                       Authorization => basic_auth('admin', 'not-the-password'))]);
    refused_like("$p: $x\'s admin password as a bearer token",
                 [call($y, GET => 'com.atproto.server.getSession', undef, bearer($X->{admin}))],
                 [call($y, GET => 'com.atproto.server.getSession', undef, bearer('not-the-password'))]);

    # invites and handles on createAccount
    refused_like("$p: $x\'s invite code on createAccount",
                 [call($y, POST => 'com.atproto.server.createAccount',
                       { handle => "inv$x$Y->{domain}", email => "inv$x\@$y.example.com",
                         password => 'pw-invite', inviteCode => $X->{invite} })],
                 [call($y, POST => 'com.atproto.server.createAccount',
                       { handle => "inv$x$Y->{domain}", email => "inv$x\@$y.example.com",
                         password => 'pw-invite', inviteCode => 'localhost-zzzzz-zzzzz' })]);
    {
        my ($s, $inv) = call($y, POST => 'com.atproto.server.createInviteCode', { useCount => 2 }, admin_of($y));
        refused_like("$p: $x\'s handle on createAccount",
                     [call($y, POST => 'com.atproto.server.createAccount',
                           { handle => $XA->{handle}, email => "h$x\@$y.example.com",
                             password => 'pw-handle', inviteCode => $inv->{code} })],
                     [call($y, POST => 'com.atproto.server.createAccount',
                           { handle => "nobody$X->{domain}", email => "h$x\@$y.example.com",
                             password => 'pw-handle', inviteCode => $inv->{code} })]);
        my ($s1, $d1) = call($y, POST => 'com.atproto.server.createAccount',
                             { handle => "mig$x$Y->{domain}", email => "m$x\@$y.example.com",
                               password => 'pw-did', inviteCode => $inv->{code}, did => $XA->{did} });
        ok($s1 >= 400 && $s1 < 500, "$p: createAccount with $x\'s DID (no service auth) refused: $s1 " . err($d1));
        refused_like("$p: $y\'s user takes $x\'s handle (updateHandle)",
                     [call($y, POST => 'com.atproto.identity.updateHandle', { handle => $XA->{handle} },
                           bearer($YA->{accessJwt}))],
                     [call($y, POST => 'com.atproto.identity.updateHandle', { handle => "nobody$X->{domain}" },
                           bearer($YA->{accessJwt}))]);
    }

    # reads of x's repo, records and blobs through y
    my $d = $XA->{did};
    my %reads = (
        'describeRepo' => ["com.atproto.repo.describeRepo?repo=$d", "com.atproto.repo.describeRepo?repo=$fake_did"],
        'getRecord' => ["com.atproto.repo.getRecord?repo=$d&collection=app.bsky.feed.post&rkey=$X->{rkey}",
                        "com.atproto.repo.getRecord?repo=$fake_did&collection=app.bsky.feed.post&rkey=$X->{rkey}"],
        'getRecord by handle' => ["com.atproto.repo.getRecord?repo=$XA->{handle}&collection=app.bsky.feed.post&rkey=$X->{rkey}",
                                  "com.atproto.repo.getRecord?repo=nobody$X->{domain}&collection=app.bsky.feed.post&rkey=$X->{rkey}"],
        'listRecords' => ["com.atproto.repo.listRecords?repo=$d&collection=app.bsky.feed.post",
                          "com.atproto.repo.listRecords?repo=$fake_did&collection=app.bsky.feed.post"],
        'sync.getRepo' => ["com.atproto.sync.getRepo?did=$d", "com.atproto.sync.getRepo?did=$fake_did"],
        'sync.getLatestCommit' => ["com.atproto.sync.getLatestCommit?did=$d", "com.atproto.sync.getLatestCommit?did=$fake_did"],
        'sync.getRepoStatus' => ["com.atproto.sync.getRepoStatus?did=$d", "com.atproto.sync.getRepoStatus?did=$fake_did"],
        'sync.getRecord' => ["com.atproto.sync.getRecord?did=$d&collection=app.bsky.feed.post&rkey=$X->{rkey}",
                             "com.atproto.sync.getRecord?did=$fake_did&collection=app.bsky.feed.post&rkey=$X->{rkey}"],
        'sync.getBlocks' => ["com.atproto.sync.getBlocks?did=$d&cids=$X->{cid}", "com.atproto.sync.getBlocks?did=$fake_did&cids=$X->{cid}"],
        'sync.getBlob' => ["com.atproto.sync.getBlob?did=$d&cid=$X->{blob}", "com.atproto.sync.getBlob?did=$fake_did&cid=$X->{blob}"],
        'sync.listBlobs' => ["com.atproto.sync.listBlobs?did=$d", "com.atproto.sync.listBlobs?did=$fake_did"],
        "$x\'s blob CID under $y\'s account" => ["com.atproto.sync.getBlob?did=$YA->{did}&cid=$X->{blob}",
                                                 "com.atproto.sync.getBlob?did=$YA->{did}&cid=$fake_cid"],
        "$x\'s record CID under $y\'s account (getBlocks)" => ["com.atproto.sync.getBlocks?did=$YA->{did}&cids=$X->{cid}",
                                                               "com.atproto.sync.getBlocks?did=$YA->{did}&cids=$fake_rcid"],
        "$x\'s rkey in $y\'s repo" => ["com.atproto.repo.getRecord?repo=$YA->{did}&collection=app.bsky.feed.post&rkey=$X->{rkey}",
                                       "com.atproto.repo.getRecord?repo=$YA->{did}&collection=app.bsky.feed.post&rkey=2222222222222"],
        "resolveHandle of $x\'s handle" => ["com.atproto.identity.resolveHandle?handle=$XA->{handle}",
                                            "com.atproto.identity.resolveHandle?handle=nobody$X->{domain}"],
    );
    for my $r (sort keys %reads) {
        refused_like("$p: $r", [call($y, GET => $reads{$r}[0])], [call($y, GET => $reads{$r}[1])]);
    }
    my ($s, $repos) = call($y, GET => 'com.atproto.sync.listRepos?limit=1000');
    ok($s == 200 && !grep({ $_->{did} eq $d } @{ $repos->{repos} || [] }),
       "$p: listRepos of $y does not list $x\'s account");
    ($s, my $codes) = call($y, GET => 'com.atproto.server.getAccountInviteCodes', undef, bearer($XA->{accessJwt}));
    ok($s >= 400 && $s < 500, "$p: $x\'s token lists no invite codes on $y ($s " . err($codes) . ')');
    {
        # an invite "for" another tenant's account: no different from one
        # for a DID that does not exist
        my ($s1, $d1) = call($y, POST => 'com.atproto.server.createInviteCode',
                             { useCount => 1, forAccount => $d }, admin_of($y));
        my ($s2, $d2) = call($y, POST => 'com.atproto.server.createInviteCode',
                             { useCount => 1, forAccount => $fake_did }, admin_of($y));
        ok($s1 == $s2 && err($d1) eq err($d2) && $s1 < 500,
           "$p: an invite on $y for $x\'s DID is answered as for a DID that does not exist ($s1)");
    }

    # y's user deletes x's account with x's password: nothing changes on x
    my ($s_del, $d_del) = call($y, POST => 'com.atproto.server.deleteAccount',
                               { did => $d, password => $XA->{password}, token => 'aaaaa-aaaaa' },
                               bearer($YA->{accessJwt}));
    ok($s_del >= 400 && $s_del < 500, "$p: deleteAccount on $y of $x\'s DID refused ($s_del " . err($d_del) . ')');
    # the reference answers 200 for a DID it does not host; what counts is
    # that x's account is untouched (checked just below)
    ($s) = call($y, POST => 'com.atproto.admin.deleteAccount', { did => $d }, admin_of($y));
    ok($s == 200 || ($s >= 400 && $s < 500),
       "$p: admin.deleteAccount on $y of $x\'s DID answered as for an unknown DID ($s)");
    ($s) = call($x, GET => "com.atproto.repo.getRecord?repo=$d&collection=app.bsky.feed.post&rkey=$X->{rkey}");
    is($s, 200, "$p: after all that, $x still serves $x\'s record");
    ($s) = call($x, POST => 'com.atproto.server.createSession',
                { identifier => $XA->{handle}, password => $XA->{password} });
    is($s, 200, "$p: ... and $x\'s password still works");
}

# ---- handles over HTTP: /.well-known/atproto-did

for my $t (@names) {
    my $h = "alice$T{$t}{domain}";
    my ($s, $body) = http_json(GET => "$url/.well-known/atproto-did", undef, { Host => $h });
    is($body, $T{$t}{acc}{did}, "$t: /.well-known/atproto-did for $h");
}
for my $x ('alpha', 'gamma') {
    # on the second listener beta is the only server: any Host reaches it
    my $h = "alice$T{$x}{domain}";
    my ($s1, $b1) = http_json(GET => "http://127.0.0.1:$port2/.well-known/atproto-did", undef, { Host => $h });
    my ($s2, $b2) = http_json(GET => "http://127.0.0.1:$port2/.well-known/atproto-did", undef,
                              { Host => "nobody$T{$x}{domain}" });
    ok($s1 == 404 && $s1 == $s2 && ($b1 // '') eq ($b2 // ''),
       "beta does not answer /.well-known/atproto-did for $x\'s handle ($s1, as for nobody)")
        or diag "got $s1 '$b1', nobody: $s2 '$b2'";
    my ($s3, $d3) = http_json(GET => "http://127.0.0.1:$port2/xrpc/com.atproto.identity.resolveHandle?handle=$h",
                              undef, { Host => $h });
    my ($s4, $d4) = http_json(GET => "http://127.0.0.1:$port2/xrpc/com.atproto.identity.resolveHandle?handle=nobody$T{$x}{domain}",
                              undef, { Host => $h });
    ok($s3 >= 400 && $s3 == $s4 && err($d3) eq err($d4),
       "beta (by its own listener, Host $h) does not resolve $x\'s handle ($s3 " . err($d3) . ')');
}

# ---- the firehose: each tenant's shows its own events only

my %ws;
for my $t (@names) {
    my ($s, $why) = ws_open($port, $T{$t}{hostname}, '?cursor=0');
    ok($s, "$t: subscribeRepos from cursor 0") or diag $why;
    $ws{$t} = $s;
}
# new events while everyone listens
for my $t (@names) {
    my $A = $T{$t}{acc};
    my ($s) = call($t, POST => 'com.atproto.repo.createRecord',
                   { repo => $A->{did}, collection => 'app.bsky.feed.post',
                     record => { '$type' => 'app.bsky.feed.post', text => "live $t",
                                 createdAt => '2026-01-01T00:00:00.000Z' } },
                   bearer($A->{accessJwt}));
    is($s, 200, "$t: a live write");
}
for my $t (@names) {
    next unless $ws{$t};
    my @frames = ws_frames($ws{$t}, 3);
    my $all = join '', map { $_->[1] } grep { $_->[0] == 2 } @frames;
    ok(index($all, $T{$t}{acc}{did}) >= 0 && index($all, "live $t") >= 0,
       "$t: its firehose has its own events, old and live (" . scalar(@frames) . ' frames)');
    for my $o (grep { $_ ne $t } @names) {
        ok(index($all, $T{$o}{acc}{did}) < 0 && index($all, "live $o") < 0 && index($all, "$o says hi") < 0,
           "$t: its firehose has nothing of $o");
    }
    ws_close($ws{$t});
}

stop_all();
is_deeply([log_problems("$dir/logs/error.log")], [], 'no alerts or crashes in the error log');
done_testing();
