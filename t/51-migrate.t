# Account migration between two tenants of one nginx (A and B, both ours,
# on one local PLC directory), with the real steps of the official
# procedure: getServiceAuth on A; createAccount with the DID on B;
# getRepo -> importRepo; listMissingBlobs + getBlob -> uploadBlob;
# getPreferences -> putPreferences; requestPlcOperationSignature on A (the
# token read from the mail the mailer logs), signPlcOperation on A with
# B's recommended credentials, submitPlcOperation on B; activateAccount on
# B; deactivateAccount on A.  Then: records by CID, the blob, the DID
# document at the PLC directory, A deactivated, a new post on B whose
# commit verifies with B's key (@atproto/repo, when Node is there).
# Negative cases on the way (no service auth, wrong aud / lxm, expired,
# forged signature, another account's CAR, bad PLC operations, missing /
# wrong / reused tokens, activation before the DID points at B) answer
# XRPC errors and change nothing.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep);
use MIME::Base64 qw(encode_base64url decode_base64url);
use PDSTest qw(start_pds start_plc scratch_dir http_json stop_all log_problems create_account
               slurp free_port basic_auth json);

my $portb = free_port();
my $dir = scratch_dir();
my $plc = start_plc($dir) or plan skip_all => 'no PLC directory (npm packages missing)';
my $pds = start_pds(dir => $dir, plc => $plc, http_config => <<"CONF");
    server {
        listen 127.0.0.1:$portb;
        server_name pdsb.example;
        pds_hostname pdsb.example;
        pds_port $portb;
        pds_handle_domains .b.test;
        pds_data_dir $dir/data-b;
        pds_admin_password admin-b-$$;
        pds_jwt_secret jwt-b-$$;
        pds_plc_rotation_key 7a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9;
        pds_plc_url $plc;
        pds_thread_pool pds;
        location / { pds; }
    }
CONF
ok(1, 'two tenants up');
my $ua = $pds->{url};
my $ub = "http://127.0.0.1:$portb";
my $bdid = 'did:web:pdsb.example';
my $bhost = 'pdsb.example';

sub call {
    my ($u, $method, $nsid, $body, $token, %h) = @_;
    $h{Authorization} = "Bearer $token" if $token;
    $h{Host} = $bhost if $u eq $ub;
    return http_json($method, "$u/xrpc/$nsid", $body, \%h);
}
sub err { my $b = shift; ref $b eq 'HASH' ? ($b->{error} // '') . ': ' . ($b->{message} // '') : "$b" }

# ---- alice on A: posts, a profile with an avatar blob, preferences

my $alice = create_account($pds, handle => 'alice.test') or BAIL_OUT('no account on A');
my $bob = create_account($pds, handle => 'bob.test') or BAIL_OUT('no account on A');
my $did = $alice->{did};
my $ta = $alice->{accessJwt};
my ($s, $b);

for my $i (1 .. 5) {
    ($s, $b) = call($ua, POST => 'com.atproto.repo.createRecord',
                    { repo => $did, collection => 'app.bsky.feed.post',
                      record => { '$type' => 'app.bsky.feed.post', text => "post $i",
                                  createdAt => '2026-12-06T00:00:00.000Z' } }, $ta);
    is($s, 200, "post $i on A") or diag err($b);
}
my $png = "\x89PNG\r\n\x1a\n" . ("\x00\x01\x02\x03" x 300);
($s, $b) = http_json(POST => "$ua/xrpc/com.atproto.repo.uploadBlob", $png,
                     { Authorization => "Bearer $ta", 'Content-Type' => 'image/png' });
is($s, 200, 'a blob on A') or diag err($b);
my $blob = $b->{blob};
my $blobcid = $blob->{ref}{'$link'};
($s, $b) = call($ua, POST => 'com.atproto.repo.putRecord',
                { repo => $did, collection => 'app.bsky.actor.profile', rkey => 'self',
                  record => { '$type' => 'app.bsky.actor.profile', displayName => 'Alice',
                              avatar => $blob } }, $ta);
is($s, 200, 'a profile with the blob as avatar') or diag err($b);
my $prefs = [ { '$type' => 'app.bsky.actor.defs#adultContentPref', enabled => JSON::PP::true() },
              { '$type' => 'app.bsky.actor.defs#savedFeedsPrefV2',
                items => [ { id => '3kabc', type => 'timeline', value => 'following', pinned => JSON::PP::true() } ] } ];
($s, $b) = call($ua, POST => 'app.bsky.actor.putPreferences', { preferences => $prefs }, $ta);
is($s, 200, 'preferences on A') or diag err($b);

# ---- service auth for B from A, and the refusals of bad ones

sub service_auth {
    my (%q) = @_;
    my $qs = join '&', map { "$_=$q{$_}" } sort keys %q;
    my ($s, $b) = call($ua, GET => "com.atproto.server.getServiceAuth?$qs", undef, $ta);
    is($s, 200, "getServiceAuth $qs") or diag err($b);
    return $b->{token};
}
my $good = service_auth(aud => $bdid, lxm => 'com.atproto.server.createAccount');

my ($si, $inv) = http_json(POST => "$ub/xrpc/com.atproto.server.createInviteCode", { useCount => 5 },
                           { Host => $bhost, Authorization => basic_auth('admin', "admin-b-$$") });
is($si, 200, 'an invite on B');
my %new = (did => $did, handle => 'alice.b.test', email => 'alice@b.example.com',
           password => 'alice-on-b', inviteCode => $inv->{code});

sub create_b { my ($tok, %o) = @_; call($ub, POST => 'com.atproto.server.createAccount', { %new, %o }, $tok) }

($s, $b) = create_b(undef);
is($s, 401, 'createAccount with a DID and no service auth: 401');
is($b->{error}, 'AuthenticationRequired', '... AuthenticationRequired: ' . err($b));
($s, $b) = create_b($good, did => 'did:web:' . ('a' x 60 . '.') x 5 . 'example');
ok($s == 400 && $b->{error} eq 'InvalidRequest', 'a DID over 256 characters: 400 InvalidRequest') or diag err($b);
($s, $b) = create_b(service_auth(aud => $bdid, lxm => 'com.atproto.repo.createRecord'));
is($s, 401, 'a token for another method: 401');
is($b->{error}, 'BadJwtLexiconMethod', '... BadJwtLexiconMethod');
($s, $b) = create_b(service_auth(aud => 'did:web:elsewhere.example', lxm => 'com.atproto.server.createAccount'));
is($s, 401, 'a token for another service: 401');
is($b->{error}, 'BadJwtAudience', '... BadJwtAudience');
my ($h, $p, $sig) = split /\./, $good;
my $forged = join '.', $h, $p, encode_base64url(scalar reverse decode_base64url($sig));
($s, $b) = create_b($forged);
is($s, 401, 'a forged signature: 401');
is($b->{error}, 'BadJwtSignature', '... BadJwtSignature');
my $pl = json()->decode(decode_base64url($p));
$pl->{iss} = $bob->{did};
($s, $b) = create_b(join '.', $h, encode_base64url(json()->encode($pl)), $sig);
is($s, 401, 'another issuer with the same signature: 401');
is($b->{error}, 'BadJwtSignature', '... BadJwtSignature');
($s, $b) = create_b(service_auth(aud => $bdid, lxm => 'com.atproto.server.createAccount'),
                    did => $bob->{did});
is($s, 401, 'a token of alice for bob\'s DID: 401');
is($b->{error}, 'AuthenticationRequired', '... ' . err($b));
my $short = service_auth(aud => $bdid, lxm => 'com.atproto.server.createAccount', exp => time + 1);
sleep 2.2;
($s, $b) = create_b($short);
is($s, 401, 'an expired token: 401');
is($b->{error}, 'JwtExpired', '... JwtExpired');
($s, $b) = call($ub, GET => "com.atproto.repo.describeRepo?repo=$did");
is($s, 400, 'after the refusals B has no such repo');

# a key reserved for the DID is the one the account gets
($s, $b) = call($ub, POST => 'com.atproto.server.reserveSigningKey', { did => $did });
is($s, 200, 'reserveSigningKey for the DID');
my $reserved = $b->{signingKey};
($s, $b) = call($ub, POST => 'com.atproto.server.reserveSigningKey', { did => $did });
is($b->{signingKey}, $reserved, '... reserving again gives the same key');

($s, $b) = create_b($good);
is($s, 200, 'createAccount on B with the DID and service auth') or diag err($b);
my $tb = $b->{accessJwt};
is($b->{did}, $did, '... the same DID');
is($b->{handle}, 'alice.b.test', '... the new handle');
($s, $b) = create_b(service_auth(aud => $bdid, lxm => 'com.atproto.server.createAccount'),
                    email => 'other@b.example.com', handle => 'alice2.b.test');
is($s, 400, 'a second createAccount with the DID: 400');
is($b->{error}, 'AlreadyExists', '... AlreadyExists');

($s, $b) = call($ub, GET => 'com.atproto.server.checkAccountStatus', undef, $tb);
is($s, 200, 'checkAccountStatus on B');
is_deeply([@$b{qw(activated validDid)}], [JSON::PP::false(), JSON::PP::false()],
          '... deactivated, the DID not pointing here yet');
($s, $b) = call($ub, GET => 'com.atproto.identity.getRecommendedDidCredentials', undef, $tb);
is($s, 200, 'getRecommendedDidCredentials on B');
my $creds = $b;
is($creds->{verificationMethods}{atproto}, $reserved, '... the signing key is the reserved one');

($s, $b) = call($ub, POST => 'com.atproto.repo.createRecord',
                { repo => $did, collection => 'app.bsky.feed.post',
                  record => { '$type' => 'app.bsky.feed.post', text => 'too early',
                              createdAt => '2026-12-06T00:00:00.000Z' } }, $tb);
is($s, 401, 'writes before activation: 401');
is($b->{error}, 'AccountDeactivated', '... AccountDeactivated');
($s, $b) = call($ub, GET => "com.atproto.sync.getLatestCommit?did=$did");
is($s, 400, 'the repo is hidden before activation');
is($b->{error}, 'RepoDeactivated', '... RepoDeactivated');

# ---- the repo, the blob, the preferences

my ($sc, undef, $res) = http_json(GET => "$ua/xrpc/com.atproto.sync.getRepo?did=$did");
is($sc, 200, 'getRepo on A');
my $car = $res->{content};
my ($sb, undef, $resb) = http_json(GET => "$ua/xrpc/com.atproto.sync.getRepo?did=$bob->{did}");
sub import_b {
    my ($bytes) = @_;
    return http_json(POST => "$ub/xrpc/com.atproto.repo.importRepo", $bytes,
                     { Host => $bhost, Authorization => "Bearer $tb",
                       'Content-Type' => 'application/vnd.ipld.car' });
}
($s, $b) = import_b($resb->{content});
is($s, 400, 'importing another account\'s CAR: 400');
is($b->{error}, 'InvalidRequest', '... ' . err($b));
($s, $b) = call($ub, GET => 'com.atproto.server.checkAccountStatus', undef, $tb);
is($b->{indexedRecords}, 0, '... nothing imported');
($s, $b) = import_b($car);
is($s, 200, 'importRepo on B') or diag err($b);

($s, $b) = call($ub, GET => 'com.atproto.repo.listMissingBlobs', undef, $tb);
is($s, 200, 'listMissingBlobs');
is_deeply([map { $_->{cid} } @{ $b->{blobs} || [] }], [$blobcid], '... the avatar is missing');
($s, undef, $res) = http_json(GET => "$ua/xrpc/com.atproto.sync.getBlob?did=$did&cid=$blobcid");
is($s, 200, 'getBlob on A');
($s, $b) = http_json(POST => "$ub/xrpc/com.atproto.repo.uploadBlob", $res->{content},
                     { Host => $bhost, Authorization => "Bearer $tb", 'Content-Type' => 'image/png' });
is($s, 200, 'uploadBlob on B') or diag err($b);
($s, $b) = call($ub, GET => 'com.atproto.repo.listMissingBlobs', undef, $tb);
is_deeply($b->{blobs}, [], '... none missing now');

($s, $b) = call($ua, GET => 'app.bsky.actor.getPreferences', undef, $ta);
($s, $b) = call($ub, POST => 'app.bsky.actor.putPreferences', { preferences => $b->{preferences} }, $tb);
is($s, 200, 'putPreferences on B') or diag err($b);

($s, $b) = call($ub, GET => 'com.atproto.server.checkAccountStatus', undef, $tb);
is($b->{indexedRecords}, 6, 'checkAccountStatus: 6 records');
is($b->{expectedBlobs}, 1, '... 1 expected blob');
is($b->{importedBlobs}, 1, '... 1 imported blob');
ok($b->{repoBlocks} >= 7, "... $b->{repoBlocks} blocks");
my ($s0, $head) = http_json(GET => "$ua/xrpc/com.atproto.sync.getLatestCommit?did=$did");
is($b->{repoCommit}, $head->{cid}, '... the commit is A\'s');
is($b->{repoRev}, $head->{rev}, '... and so is the rev');

($s, $b) = call($ub, POST => 'com.atproto.server.activateAccount', undef, $tb);
is($s, 400, 'activateAccount before the DID points at B: 400');
like($b->{message} // '', qr/rotation key|endpoint/, '... ' . err($b));

# ---- the PLC operation, signed by A with a mailed token

sub mails {
    my $log = -e $pds->{log} ? slurp($pds->{log}) : '';
    my @m;
    while ($log =~ /pds: mail to "([^"]+)" \([^)]*\), not sent \(no pds_email_smtp_url\):\n(.*?)(?=, client: |\n\d{4}\/\d\d\/\d\d |\z)/sg) {
        push @m, [$1, $2];
    }
    return @m;
}
sub next_token {
    my $before = scalar(mails());
    my ($s, $b) = call($ua, POST => 'com.atproto.identity.requestPlcOperationSignature', undef, $ta);
    is($s, 200, 'requestPlcOperationSignature on A') or diag err($b);
    for (1 .. 100) {
        my @m = mails();
        if (@m > $before) {
            is($m[-1][0], $alice->{email}, '... mailed to alice');
            my ($tok) = $m[-1][1] =~ /^([A-Z2-7]{5}-[A-Z2-7]{5})$/m;
            ok($tok, '... with a token');
            return $tok;
        }
        sleep 0.1;
    }
    fail('the mail arrived');
    return undef;
}

my %want = map { $_ => $creds->{$_} } qw(rotationKeys alsoKnownAs verificationMethods services);
($s, $b) = call($ua, POST => 'com.atproto.identity.signPlcOperation', { %want }, $ta);
is($s, 400, 'signPlcOperation without a token: 400');
like($b->{message} // '', qr/token required/, '... ' . err($b));
($s, $b) = call($ua, POST => 'com.atproto.identity.signPlcOperation', { %want, token => 'AAAAA-BBBBB' }, $ta);
is($s, 400, 'with a token never mailed: 400');
is($b->{error}, 'InvalidToken', '... InvalidToken');
my $tok = next_token();
($s, $b) = call($ua, POST => 'com.atproto.identity.signPlcOperation', { %want, token => 'AAAAA-BBBBB' }, $ta);
is($b->{error}, 'InvalidToken', 'a wrong token: InvalidToken');
($s, $b) = call($ua, POST => 'com.atproto.identity.signPlcOperation', { %want, token => $tok }, $ta);
is($s, 200, 'signPlcOperation with the token') or diag err($b);
my $op = $b->{operation};
is_deeply($op->{services}, $creds->{services}, '... the operation points at B');
($s, $b) = call($ua, POST => 'com.atproto.identity.signPlcOperation', { %want, token => $tok }, $ta);
is($b->{error}, 'InvalidToken', 'the token is used up');

my ($sd, $doc0) = http_json(GET => "$pds->{plc}/$did");
my %bad = (
    'another endpoint' => [ sub { $_[0]{services}{atproto_pds}{endpoint} = 'https://evil.example' }, qr/endpoint/ ],
    'another signing key' => [ sub { $_[0]{verificationMethods}{atproto} = $alice->{didDoc}{verificationMethod}[0]{publicKeyMultibase} }, qr/signing key/ ],
    'without B\'s rotation key' => [ sub { $_[0]{rotationKeys} = [ grep { $_ ne $creds->{rotationKeys}[-1] } @{ $_[0]{rotationKeys} } ] }, qr/rotation key/ ],
    'another handle' => [ sub { $_[0]{alsoKnownAs} = ['at://mallory.b.test'] }, qr/handle/ ],
    'not an operation' => [ sub { delete $_[0]{sig} }, qr/Invalid operation/ ],
    'a broken signature' => [ sub { $_[0]{sig} = 'AAAA' . substr($_[0]{sig}, 4) }, qr/PLC directory refused/ ],
);
for my $name (sort keys %bad) {
    my $copy = json()->decode(json()->encode($op));
    $bad{$name}[0]->($copy);
    ($s, $b) = call($ub, POST => 'com.atproto.identity.submitPlcOperation', { operation => $copy }, $tb);
    is($s, 400, "submitPlcOperation with $name: 400");
    like($b->{message} // '', $bad{$name}[1], '... ' . err($b));
}
my ($sd2, $doc1) = http_json(GET => "$pds->{plc}/$did");
is_deeply($doc1, $doc0, 'the DID document is unchanged after the refusals');

($s, $b) = call($ub, POST => 'com.atproto.identity.submitPlcOperation', { operation => $op }, $tb);
is($s, 200, 'submitPlcOperation on B') or diag err($b);
($s, my $doc) = http_json(GET => "$pds->{plc}/$did");
is($doc->{service}[0]{serviceEndpoint}, 'https://pdsb.example', 'the PLC directory names B');
my ($sdata, $data) = http_json(GET => "$pds->{plc}/$did/data");
is($data->{verificationMethods}{atproto}, $reserved, '... and B\'s key (the reserved one)');
is_deeply($doc->{alsoKnownAs}, ['at://alice.b.test'], '... and the new handle');

($s, $b) = call($ub, POST => 'com.atproto.server.activateAccount', undef, $tb);
is($s, 200, 'activateAccount on B') or diag err($b);
($s, $b) = call($ub, GET => 'com.atproto.server.checkAccountStatus', undef, $tb);
is_deeply([@$b{qw(activated validDid)}], [JSON::PP::true(), JSON::PP::true()], '... activated, the DID valid');
# A's records, read while A still serves them (a deactivated repo is not listed)
my %on;
sub records_on {
    my ($u) = @_;
    for my $c (qw(app.bsky.feed.post app.bsky.actor.profile)) {
        my ($s, $b) = http_json(GET => "$u/xrpc/com.atproto.repo.listRecords?repo=$did&collection=$c&limit=100",
                                undef, $u eq $ub ? { Host => $bhost } : {});
        $on{$u}{$_->{uri}} = $_->{cid} for @{ $b->{records} || [] };
    }
}
records_on($ua);
($s, $b) = call($ua, POST => 'com.atproto.server.deactivateAccount', {}, $ta);
is($s, 200, 'deactivateAccount on A');
($s, $b) = call($ua, GET => 'com.atproto.server.checkAccountStatus', undef, $ta);
is($b->{activated}, JSON::PP::false(), '... A\'s account is deactivated');
is($b->{validDid}, JSON::PP::false(), '... and the DID no longer points at A');

# ---- what B has

records_on($ub);
($s, $b) = http_json(GET => "$ua/xrpc/com.atproto.repo.listRecords?repo=$did&collection=app.bsky.feed.post");
is($s, 400, 'A, deactivated, no longer lists the records');
is(scalar(keys %{ $on{$ub} }), 6, 'B lists 6 records');
is_deeply($on{$ub}, $on{$ua}, '... each with A\'s CID');
($s, undef, $res) = http_json(GET => "$ub/xrpc/com.atproto.sync.getBlob?did=$did&cid=$blobcid", undef, { Host => $bhost });
is($s, 200, 'the blob on B');
ok($res->{content} eq $png, '... byte for byte');

($s, $b) = call($ub, POST => 'com.atproto.repo.createRecord',
                { repo => $did, collection => 'app.bsky.feed.post',
                  record => { '$type' => 'app.bsky.feed.post', text => 'hello from B',
                              createdAt => '2026-12-06T00:00:00.000Z' } }, $tb);
is($s, 200, 'a new post on B') or diag err($b);
($s, undef, $res) = http_json(GET => "$ub/xrpc/com.atproto.sync.getRepo?did=$did", undef, { Host => $bhost });
is($s, 200, 'getRepo on B');
my $nm = 't/js/node_modules/@atproto/repo';
SKIP: {
    skip 'no node or @atproto/repo', 1 unless -d $nm && `node --version 2>/dev/null`;
    my $f = "$pds->{dir}/b.car";
    open my $fh, '>:raw', $f or die; print $fh $res->{content}; close $fh;
    my $out = `cd t/js && node -e '
        const repo = require("\@atproto/repo"); const fs = require("fs");
        repo.verifyRepoCar(fs.readFileSync(process.argv[1]), process.argv[2], process.argv[3])
          .then(r => console.log("verified " + r.creates.length), e => console.log("failed " + e.message))' $f $did $reserved 2>&1`;
    like($out, qr/^verified 7$/m, "\@atproto/repo verifies B's repo (7 records) with B's key: $out");
}

stop_all();
is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes');
done_testing();
