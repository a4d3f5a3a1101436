# Identity beyond handles of the service (issue #20), as the reference PDS
# 0.5.35 does it:
#
# - com.atproto.identity.resolveIdentity / resolveDid / refreshIdentity are
#   not served by the reference itself: its catch-all forwards them to the
#   AppView (a session required, a service token minted); without an AppView
#   it answers 400 "No service configured for <nsid>".  Checked against an
#   AppView stand-in (a server block echoing what it was sent) and a second
#   tenant without one.
# - createAccount of an account moving here (a "did", with a service-auth
#   token of that DID) whose handle is a domain of its own: accepted once
#   the domain resolves to that DID (DNS TXT by the backup name servers,
#   dnsmasq); refused with the reference's errors otherwise.
# - updateHandle (and admin.updateAccountHandle) of a did:web account: no
#   PLC operation; the DID document, fetched fresh, must already name the
#   new handle; then the firehose has the #identity event.
#
# - "pds_well_known_did HOSTNAME": handle hosts in a server block of their
#   own (its own certificate, chosen by SNI) answering only
#   /.well-known/atproto-did, from that tenant's accounts; the rest of that
#   block is nginx's; nginx -t refuses a hostname no tenant has.
#
# The did:web identity is the test's own: did:web:localhost%3A<port>, its
# document served by a server block of this nginx (http for localhost, as
# the did:web resolvers allow), its key and service-auth tokens made by
# t/js/service_jwt.mjs (@atproto/crypto, @atproto/xrpc-server).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PDSTest qw(start_pds http_json stop_all log_problems free_port create_account
               slurp write_file scratch_dir basic_auth json nginx_test module_path);
use PDSDns qw(start_dns stop_dns dnsmasq_bin);
use PDSFuzz qw(ws_open ws_frames ws_close);

plan skip_all => 'no dnsmasq (Debian package dnsmasq-base)' unless dnsmasq_bin();
-d 't/js/node_modules/@atproto/xrpc-server' && -d 't/js/node_modules/@did-plc/server'
    or plan skip_all => 'npm packages missing (make node-deps)';
system('node -e 1 >/dev/null 2>&1') == 0 or plan skip_all => 'no node';

my $dir = scratch_dir();
my ($dnsport, $webport, $avport, $port2, $tlsport)
    = (free_port(), free_port(), free_port(), free_port(), free_port());
my $q = sub { system("$_[0] >/dev/null 2>&1") == 0 or die "failed: $_[0]" };

# a test CA, a certificate for the handle hosts (*.pds.test) and one for
# another name on the same port (the default server)
$q->("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=PDS-Identity-CA"
     . " -keyout $dir/ca.key -out $dir/ca.pem");
for my $c (['handles', '*.pds.test'], ['other', 'other.test']) {
    $q->("openssl req -newkey rsa:2048 -nodes -subj /CN=$c->[0]"
         . " -keyout $dir/$c->[0].key -out $dir/$c->[0].csr");
    write_file("$dir/$c->[0].ext", "subjectAltName=DNS:$c->[1]\n");
    $q->("openssl x509 -req -in $dir/$c->[0].csr -CA $dir/ca.pem -CAkey $dir/ca.key"
         . " -CAcreateserial -days 2 -extfile $dir/$c->[0].ext -out $dir/$c->[0].pem");
}
my $WEB = "did:web:localhost%3A$webport";
mkdir "$dir/web";
mkdir "$dir/web/.well-known";

my $pds = start_pds(dir => $dir, http_config => <<"HTTP", config => <<"CONF")
    server {
        listen 127.0.0.1:$webport;
        server_name localhost;
        root $dir/web;
        location = /.well-known/did.json { default_type application/json; }
    }
    server {
        listen 127.0.0.1:$tlsport ssl default_server;
        server_name other.test;
        ssl_certificate $dir/other.pem;
        ssl_certificate_key $dir/other.key;
        location / { return 404 'not here'; }
    }
    server {
        listen 127.0.0.1:$tlsport ssl;
        server_name *.pds.test;
        ssl_certificate $dir/handles.pem;
        ssl_certificate_key $dir/handles.key;
        location = /.well-known/atproto-did {
            pds_well_known_did localhost;
        }
    }
    server {
        listen 127.0.0.1:$avport;
        location / {
            default_type application/json;
            return 200 '{"appview":"\$request_uri","method":"\$request_method","auth":"\$http_authorization"}';
        }
    }
    server {
        listen 127.0.0.1:$port2;
        server_name second.example;
        pds_hostname second.example;
        pds_port $port2;
        pds_handle_domains .second.test;
        pds_data_dir $dir/data-2;
        pds_admin_password admin-2-$$;
        pds_jwt_secret jwt-2-$$;
        pds_plc_rotation_key 7a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9;
        pds_plc_url http://127.0.0.1:1;
        pds_thread_pool pds;
        location / { pds; }
    }
HTTP
        resolver 127.0.0.1:$dnsport;
        resolver_timeout 3s;
        pds_handle_domains .pds.test;
        pds_handle_backup_nameservers 127.0.0.1:$dnsport;
        pds_disable_ssrf_protection on;
        pds_rate_limits off;
        pds_appview_url http://127.0.0.1:$avport;
        pds_appview_did did:web:appview.test;
CONF
    or plan skip_all => 'no PLC directory';
my $u = $pds->{url};

my $alice = create_account($pds, handle => 'alice.pds.test') or BAIL_OUT('no account');
my $other = 'did:plc:' . ('z' x 24);

my $dns = start_dns($dir, port => $dnsport,
    address => { 'localhost' => '127.0.0.1' },
    txt => { '_atproto.web.example.test' => "did=$WEB",
             '_atproto.web2.example.test' => "did=$WEB",
             '_atproto.wrong.example.test' => "did=$other" });
ok($dns, 'dnsmasq answers the test\'s names') or BAIL_OUT('no DNS server');

my ($s, $b);
sub err { my $x = shift; ref $x eq 'HASH' ? ($x->{error} // '') . ': ' . ($x->{message} // '') : "$x" }

# ---- resolveIdentity, resolveDid, refreshIdentity: the AppView's

for my $m (['GET', 'resolveIdentity', "identifier=alice.pds.test"],
           ['GET', 'resolveDid', "did=$alice->{did}"],
           ['POST', 'refreshIdentity', undef]) {
    my ($method, $name, $qs) = @$m;
    my $nsid = "com.atproto.identity.$name";
    my $url = "$u/xrpc/$nsid" . ($qs ? "?$qs" : '');
    my $body = $method eq 'POST' ? { identifier => 'alice.pds.test' } : undef;

    ($s, $b) = http_json($method, $url, $body);
    is($s, 401, "$name without a session: 401");
    is($b->{error}, 'AuthMissing', '... AuthMissing (the reference\'s proxy asks for a session)');

    ($s, $b) = http_json($method, $url, $body, { Authorization => "Bearer $alice->{accessJwt}" });
    is($s, 200, "$name with a session: forwarded to the AppView") or diag err($b);
    is($b->{appview}, "/xrpc/$nsid" . ($qs ? "?$qs" : ''), '... the same path and query');
    is($b->{method}, $method, "... as $method");
    like($b->{auth}, qr/^Bearer ey[\w-]+\.ey[\w-]+\.[\w-]+$/, '... with a service token');

    ($s, $b) = http_json($method, "http://127.0.0.1:$port2/xrpc/$nsid" . ($qs ? "?$qs" : ''),
                         $body, { Host => 'second.example' });
    is($s, 400, "$name where no AppView is configured: 400");
    is_deeply($b, { error => 'InvalidRequest', message => "No service configured for $nsid" },
              '... the reference\'s "No service configured"');
}

# ---- a did:web identity of the test's, moving here

my $key = json()->decode(`node t/js/service_jwt.mjs keygen`);
ok($key->{didKey}, 'a P-256 key for the did:web identity');

sub did_doc {
    my ($handle) = @_;
    write_file("$dir/web/.well-known/did.json", json()->encode({
        '@context' => ['https://www.w3.org/ns/did/v1'],
        id => $WEB,
        alsoKnownAs => ["at://$handle"],
        verificationMethod => [{ id => "$WEB#atproto", type => 'Multikey', controller => $WEB,
                                 publicKeyMultibase => substr($key->{didKey}, 8) }],
        service => [{ id => '#atproto_pds', type => 'AtprotoPersonalDataServer',
                      serviceEndpoint => $u }] }));
}
did_doc('web.example.test');

($s, $b) = http_json(GET => "$u/xrpc/com.atproto.server.describeServer");
my $sdid = $b->{did};
ok($sdid, "the tenant's service DID: " . ($sdid // ''));

sub service_auth {
    my $t = `node t/js/service_jwt.mjs sign $key->{privHex} '$WEB' '$sdid' com.atproto.server.createAccount`;
    chomp $t;
    return $t;
}

sub invite {
    my ($st, $inv) = http_json(POST => "$u/xrpc/com.atproto.server.createInviteCode",
                               { useCount => 1 }, { Authorization => basic_auth('admin', $pds->{admin}) });
    return $inv->{code};
}

sub create {
    my ($handle, $auth, $did) = @_;
    my %h = $auth ? (Authorization => "Bearer " . service_auth()) : ();
    return http_json(POST => "$u/xrpc/com.atproto.server.createAccount",
                     { handle => $handle, did => $did // $WEB, email => 'web@example.com',
                       password => 'web-password', inviteCode => invite() }, \%h);
}

($s, $b) = http_json(POST => "$u/xrpc/com.atproto.server.createAccount",
                     { handle => 'web.example.test', email => 'web@example.com',
                       password => 'web-password', inviteCode => invite() });
is($s, 400, 'createAccount with an external handle and no DID: 400');
is_deeply($b, { error => 'UnsupportedDomain', message => 'Not a supported handle domain' },
          '... UnsupportedDomain (the reference\'s)');

($s, $b) = create('wrong.example.test', 1);
is($s, 400, 'createAccount with a DID and a handle naming another DID: 400');
is_deeply($b, { error => 'InvalidRequest', message => 'External handle did not resolve to DID' },
          '... "External handle did not resolve to DID" (the reference\'s)');
like(slurp("$dir/dnsmasq.log"), qr/query\[TXT\] _atproto\.wrong\.example\.test/,
     '... the DNS server was asked');

($s, $b) = create('none.example.test', 1);
is($s, 400, 'createAccount with a DID and a handle that resolves to nothing: 400');
is_deeply($b, { error => 'InvalidRequest', message => 'External handle did not resolve to DID' },
          '... the same refusal');

($s, $b) = create('web.example.local', 1);
is($s, 400, 'createAccount with a DID and a disallowed TLD: 400');
is_deeply($b, { error => 'InvalidHandle', message => 'Handle TLD is invalid or disallowed' },
          '... InvalidHandle');

($s, $b) = create('web.example.test', 0);
is($s, 401, 'createAccount with a DID, its handle resolving, no service auth: 401');
is_deeply($b, { error => 'AuthenticationRequired',
                message => "Missing auth to create account with did: $WEB" },
          '... the reference\'s refusal, after the handle resolved');

($s, $b) = create('web.example.test', 1);
is($s, 200, 'createAccount with a DID and its own domain as handle: 200') or diag err($b);
is($b->{did}, $WEB, '... the DID brought');
is($b->{handle}, 'web.example.test', '... the external handle');
my $wt = $b->{accessJwt};

($s, $b) = http_json(GET => "$u/xrpc/com.atproto.server.getSession", undef,
                     { Authorization => "Bearer $wt" });
is($s, 200, 'getSession of the moved account') or diag err($b);
is($b->{handle}, 'web.example.test', '... its handle');
is($b->{active} ? 1 : 0, 0, '... deactivated until it is activated (as the reference)');

# ---- updateHandle of a did:web account: its document decides

sub update_handle {
    my ($h) = @_;
    return http_json(POST => "$u/xrpc/com.atproto.identity.updateHandle", { handle => $h },
                     { Authorization => "Bearer $wt" });
}

($s, $b) = update_handle('web2.example.test');
is($s, 400, 'updateHandle (did:web) to a domain its document does not name: 400');
is_deeply($b, { error => 'InvalidRequest', message => 'DID is not properly configured for handle' },
          '... the reference\'s "DID is not properly configured for handle"');

($s, $b) = update_handle('wrong.example.test');
is($s, 400, 'updateHandle (did:web) to a domain naming another DID: 400');
is_deeply($b, { error => 'InvalidRequest', message => 'External handle did not resolve to DID' },
          '... refused by the resolution first');

did_doc('web2.example.test');
($s, $b) = update_handle('web2.example.test');
is($s, 200, 'updateHandle (did:web) once its document names the handle: 200') or diag err($b);
($s, $b) = http_json(GET => "$u/xrpc/com.atproto.server.getSession", undef,
                     { Authorization => "Bearer $wt" });
is($b->{handle}, 'web2.example.test', '... the new handle is the account\'s');

($s, $b) = update_handle('webby.pds.test');
is($s, 400, 'updateHandle (did:web) to a handle of the service its document does not name: 400');
is($b->{error}, 'InvalidRequest', '... InvalidRequest');

did_doc('webby.pds.test');
($s, $b) = update_handle('webby.pds.test');
is($s, 200, '... and 200 once the document names it') or diag err($b);
($s, $b) = http_json(POST => "$u/xrpc/com.atproto.admin.updateAccountHandle",
                     { did => $WEB, handle => 'admin-set.pds.test' },
                     { Authorization => basic_auth('admin', $pds->{admin}) });
is($s, 400, 'admin.updateAccountHandle of the did:web account, not in its document: 400');
is_deeply($b, { error => 'InvalidRequest', message => 'DID is not properly configured for handle' },
          '... the same check (the reference\'s updateHandle path)');

my ($ws, $why) = ws_open($pds->{port}, 'localhost', '?cursor=0');
ok($ws, 'subscribeRepos from cursor 0') or diag $why;
my @frames = $ws ? map { $_->[1] } grep { $_->[0] == 2 } ws_frames($ws, 1.5) : ();
ws_close($ws) if $ws;
for my $h ('web2.example.test', 'webby.pds.test') {
    ok((grep { index($_, '#identity') >= 0 && index($_, $WEB) >= 0 && index($_, $h) >= 0 } @frames),
       "the firehose has an #identity event of the did:web account with $h");
}

($s, $b) = http_json(GET => "$u/xrpc/com.atproto.identity.resolveHandle?handle=web2.example.test");
is_deeply($b, { did => $WEB }, 'resolveHandle of the old external handle: still its TXT record');

# ---- handle hosts in a server block of their own

sub handle_host {
    my ($host, $path) = @_;
    my $out = `curl -s --max-time 5 --cacert $dir/ca.pem --resolve $host:$tlsport:127.0.0.1 -w '\n%{http_code}' https://$host:$tlsport$path 2>&1`;
    my ($body, $code) = $out =~ /^(.*)\n(\d+)$/s;
    return ($code // 0, $body // $out);
}

($s, $b) = handle_host('alice.pds.test', '/.well-known/atproto-did');
is($s, 200, 'the handle host\'s block (its own certificate, by SNI): /.well-known/atproto-did 200');
is($b, $alice->{did}, '... the DID of the tenant\'s account');
($s, $b) = handle_host('nobody.pds.test', '/.well-known/atproto-did');
is($s, 404, '... an unknown handle: 404');
is($b, 'User not found', '... "User not found" (as the tenant\'s own block)');
($s, $b) = handle_host('alice.pds.test', '/xrpc/_health');
is($s, 404, '... anything else there is not the PDS: 404 from nginx');
($s, $b) = handle_host('alice.pds.test', '/xrpc/com.atproto.server.describeServer');
is($s, 404, '... not even describeServer');
my $cert = `echo | openssl s_client -connect 127.0.0.1:$tlsport -servername alice.pds.test 2>/dev/null | openssl x509 -noout -subject 2>/dev/null`;
like($cert, qr/CN\s*=\s*handles/, '... the certificate chosen by SNI is the handle hosts\'');
($s, $b) = http_json(GET => "$u/.well-known/atproto-did", undef, { Host => 'alice.pds.test' });
is($s, 200, 'the tenant\'s own block still answers it too');

my ($rc, $out) = nginx_test("$dir/t", <<"END");
load_module @{[module_path()]};
pid $dir/t/nginx.pid;
events { worker_connections 64; }
http {
    client_body_temp_path $dir/t;
    server {
        listen 127.0.0.1:$tlsport;
        location = /.well-known/atproto-did { pds_well_known_did nowhere.example; }
    }
}
END
isnt($rc, 0, 'pds_well_known_did naming no tenant: nginx -t fails');
like($out, qr/"pds_well_known_did nowhere\.example": no server block has "pds_hostname nowhere\.example"/,
     '... saying so');

stop_dns($dns);
is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes in the error log');
stop_all();
done_testing();
