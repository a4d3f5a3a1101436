# OAuth (the authorization server): metadata, PAR, the sign-in page, the
# token endpoint with DPoP, refresh rotation and replay, revocation, and
# the negative cases the issue lists.  DPoP proofs come from
# build/t/pds_oauth_cli (ES256, a fresh jti each).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use MIME::Base64 qw(decode_base64);
use JSON::PP ();
use PDSTest qw(start_pds http_json stop_all log_problems json create_account);

my $cli = ($ENV{PDS_BUILD_DIR} || 'build') . '/t/pds_oauth_cli';
plan skip_all => "$cli is not built" unless -x $cli;

my $pds = start_pds() or plan skip_all => 'no PLC directory (npm packages missing)';
my $u = $pds->{url};
# the issuer and the URLs proofs name: the public URL (http://localhost:PORT)
my $pub = "http://localhost:$pds->{port}";
my $acct = create_account($pds, handle => 'olive.test', password => 'olive-password-1');
ok($acct, 'account created') or BAIL_OUT('no account');

my $key = join '', map { sprintf '%02x', int rand 256 } 1 .. 32;
my $key2 = join '', map { sprintf '%02x', int rand 256 } 1 .. 32;
chomp(my $jkt = `$cli jkt $key`);

sub proof {
    my ($htm, $path, $nonce, $at, $k, $shift) = @_;
    my @a = ($k // $key, $htm, "$pub$path", $nonce // '-', $at // '-', $shift // 0);
    chomp(my $p = `$cli proof @a`);
    return $p;
}

sub form {
    my (%f) = @_;
    return join '&', map {
        my $v = $f{$_} // '';
        $v =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge;
        "$_=$v";
    } sort keys %f;
}

sub post_form {
    my ($path, $fields, $headers) = @_;
    return http_json(POST => "$u$path", form(%$fields),
                     { 'Content-Type' => 'application/x-www-form-urlencoded',
                       %{ $headers || {} } });
}

my ($s, $b, $res);

# ---- metadata ------------------------------------------------------------
($s, $b, $res) = http_json(GET => "$u/.well-known/oauth-authorization-server");
is($s, 200, 'authorization server metadata');
is($b->{issuer}, $pub, 'issuer is the public URL');
is($b->{pushed_authorization_request_endpoint}, "$pub/oauth/par", 'PAR endpoint');
ok($b->{require_pushed_authorization_requests}, 'PAR required');
is_deeply($b->{dpop_signing_alg_values_supported}, ['ES256', 'ES256K'], 'DPoP algs');
is_deeply($b->{code_challenge_methods_supported}, ['S256'], 'S256 only');
ok($b->{authorization_response_iss_parameter_supported}, 'iss in the response');
is_deeply($b->{scopes_supported},
          ['atproto', 'transition:email', 'transition:generic', 'transition:chat.bsky'],
          'the reference\'s scopes');
ok($b->{client_id_metadata_document_supported}, 'client metadata documents');
is_deeply($b->{token_endpoint_auth_methods_supported}, ['none', 'private_key_jwt'],
          'public clients and private_key_jwt');
is($res->{headers}{'cache-control'}, 'max-age=300', 'cached 5 minutes');

($s, $b) = http_json(GET => "$u/.well-known/oauth-protected-resource");
is($s, 200, 'protected resource metadata');
is($b->{resource}, $pub, 'resource');
is_deeply($b->{authorization_servers}, [$pub], 'authorization server');
($s, $b) = http_json(GET => "$u/oauth/jwks");
is_deeply($b, { keys => [] }, 'jwks: no public key (HS256 tokens)');
($s) = http_json(GET => "$u/oauth/par");
is($s, 405, 'GET /oauth/par: 405');
($s) = http_json(GET => "$u/oauth/nothing");
is($s, 404, 'an unknown /oauth path: 404');

# ---- PAR ---------------------------------------------------------------
my $verifier = 'v' x 20 . join('', map { ('a' .. 'z')[rand 26] } 1 .. 40);
chomp(my $challenge = `$cli challenge $verifier`);
my $redirect = 'http://127.0.0.1:9/cb';
my $client_id = 'http://localhost?redirect_uri=' . uri_esc($redirect)
              . '&scope=' . uri_esc('atproto transition:generic');
sub uri_esc { my $v = shift; $v =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge; $v }

my %par = (client_id => $client_id, response_type => 'code',
           redirect_uri => $redirect, scope => 'atproto transition:generic',
           code_challenge => $challenge, code_challenge_method => 'S256',
           state => 'st-1', login_hint => 'olive.test');

($s, $b, $res) = http_json(POST => "$u/oauth/par", 'x=1', { 'Content-Type' => 'text/plain' });
is($s, 415, 'PAR without a form: 415');
is($b->{error}, 'invalid_request', '... invalid_request');
like($b->{error_description}, qr/^Unsupported content-type/, '... its wording');
my $nonce = $res->{headers}{'dpop-nonce'};
like($nonce // '', qr/^[A-Za-z0-9_-]{43}$/, 'every answer carries a DPoP-Nonce');
is($res->{headers}{'cache-control'}, 'no-store', 'no-store');
# bodies nginx spools to a file (over client_body_buffer_size) are read as
# well; over 64 kB: 413
($s, $b) = http_json(POST => "$u/oauth/par", 'pad=' . ('p' x 40000) . '&client_id=',
                     { 'Content-Type' => 'application/x-www-form-urlencoded' });
is_deeply([$s, $b->{error}, $b->{error_description}], [400, 'invalid_request', 'Missing client_id'],
          'a 40 kB form body is read (its fields parsed)');
($s, $b) = http_json(POST => "$u/oauth/par", 'pad=' . ('p' x 70000),
                     { 'Content-Type' => 'application/x-www-form-urlencoded' });
is_deeply([$s, $b->{error}], [413, 'invalid_request'], 'a form body over 64 kB: 413 invalid_request');

($s, $b) = post_form('/oauth/par', { %par, code_challenge => undef,
                                     code_challenge_method => undef });
is($s, 400, 'PAR without PKCE: 400');
is($b->{error_description}, 'Use of PKCE is required', '... Use of PKCE is required');
($s, $b) = post_form('/oauth/par', { %par, code_challenge_method => 'plain' });
like($b->{error_description}, qr/S256/, 'PAR with plain PKCE refused');
($s, $b) = post_form('/oauth/par', { %par, redirect_uri => 'http://127.0.0.1:9/elsewhere' });
is($s, 400, 'PAR with an unregistered redirect_uri: 400');
is($b->{error}, 'invalid_request', '... invalid_request');
($s, $b) = post_form('/oauth/par', { %par, scope => 'atproto transition:chat.bsky' });
is($b->{error}, 'invalid_scope', 'a scope the client did not declare: invalid_scope');
($s, $b) = post_form('/oauth/par', { %par, client_id => 'http://localhost/x' });
is($b->{error}, 'invalid_client_id', 'a loopback client_id with a path: invalid_client_id');
($s, $b) = post_form('/oauth/par', { %par, client_id => 'https://10.0.0.1/m.json' });
is($b->{error}, 'invalid_client_id', 'a client_id on an IP: invalid_client_id');
($s, $b) = post_form('/oauth/par', { %par, client_id => 'https://localhost/m.json' });
is($b->{error}, 'invalid_client_id', 'a client_id on localhost (https): invalid_client_id');

($s, $b) = post_form('/oauth/par', \%par, { DPoP => proof('POST', '/oauth/par') });
is($s, 400, 'DPoP proof without nonce: 400');
is($b->{error}, 'use_dpop_nonce', '... use_dpop_nonce');
($s, $b, $res) = post_form('/oauth/par', \%par,
                           { DPoP => proof('POST', '/oauth/token', $nonce) });
is($s, 401, 'DPoP proof for another URL: 401');
is($b->{error}, 'invalid_dpop_proof', '... invalid_dpop_proof');
is($b->{error_description}, 'DPoP "htu" mismatch', '... htu mismatch');
like($res->{headers}{'www-authenticate'} // '', qr/^DPoP .*error="invalid_dpop_proof"/,
     '... WWW-Authenticate: DPoP');
($s, $b) = post_form('/oauth/par', \%par,
                     { DPoP => proof('POST', '/oauth/par', $nonce, undef, undef, -400) });
is($b->{error}, 'invalid_dpop_proof', 'a stale proof: invalid_dpop_proof');
($s, $b) = post_form('/oauth/par', \%par, { DPoP => 'garbage' });
is($b->{error_description}, 'Failed to verify DPoP proof: Invalid Compact JWS',
   'garbage proof: the reference\'s wording');

my $p = proof('POST', '/oauth/par', $nonce);
($s, $b) = post_form('/oauth/par', \%par, { DPoP => $p });
is($s, 201, 'PAR: 201') or diag explain $b;
like($b->{request_uri} // '', qr/^urn:ietf:params:oauth:request_uri:req-[0-9a-f]{32}$/,
     'request_uri');
is($b->{expires_in}, 299, 'expires_in 299');
my $request_uri = $b->{request_uri};
chomp(my $other = `$cli challenge other-verifier-other-verifier-other-verifier`);
($s, $b) = post_form('/oauth/par', { %par, code_challenge => $other }, { DPoP => $p });
is($b->{error_description}, 'DPoP proof replayed', 'a replayed proof at PAR');
($s, $b) = post_form('/oauth/par', \%par, { DPoP => proof('POST', '/oauth/par', $nonce) });
is($s, 201, 'the same code challenge at PAR again: 201 (checked at the exchange)');

# ---- the page ----------------------------------------------------------------
my $q = 'client_id=' . uri_esc($client_id) . '&request_uri=' . uri_esc($request_uri);
($s, $b, $res) = http_json(GET => "$u/oauth/authorize?$q");
is($s, 200, 'the sign-in page');
like($res->{headers}{'content-type'}, qr{^text/html}, '... HTML');
like($res->{headers}{'content-security-policy'} // '', qr/frame-ancestors 'none'/,
     '... frame-ancestors none');
like($b, qr/autocomplete="username"/, '... username field');
like($b, qr/autocomplete="current-password"/, '... password field');
like($b, qr/value="olive\.test" readonly/, '... login_hint fills and locks the identifier');
like($b, qr/>Authorize</, '... Authorize button');
like($b, qr/>Deny</, '... Deny button');
my ($csrf) = $b =~ /name="csrf" value="([0-9a-f]{32})"/;
ok($csrf, '... a CSRF token');
like($res->{headers}{'set-cookie'} // '', qr/pds-oauth-csrf=\Q$csrf\E;.*SameSite=Strict/,
     '... the same token in a SameSite=Strict cookie');
my %page = (request_uri => $request_uri, client_id => $client_id, csrf => $csrf,
            username => 'olive.test', password => 'wrong-password', action => 'accept');
my %cookie = (Cookie => "pds-oauth-csrf=$csrf");

($s, $b, $res) = post_form('/oauth/authorize', \%page, \%cookie);
is($s, 400, 'wrong password: 400, no redirect');
ok(!$res->{headers}{location}, '... no Location');
like($b, qr/role="alert"[^>]*>Invalid identifier or password/, '... an error with role=alert');
($s, $b) = post_form('/oauth/authorize', { %page, password => 'olive-password-1' },
                     { Cookie => 'pds-oauth-csrf=' . ('0' x 32) });
is($s, 403, 'a CSRF cookie that does not match: 403');
($s, $b) = post_form('/oauth/authorize', { %page, password => 'olive-password-1' });
is($s, 403, 'no CSRF cookie: 403');
($s, $b) = post_form('/oauth/authorize', { %page, password => 'olive-password-1' },
                     { Cookie => "pds-oauth-csrf=${csrf}0" });
is($s, 403, 'a CSRF cookie that only begins with the token: 403');
($s, $b) = post_form('/oauth/authorize', \%page,
                     { Cookie => "theme=dark; xpds-oauth-csrf=0; pds-oauth-csrf=$csrf; lang=en" });
is($s, 400, 'the CSRF cookie among others is found (past a name that only ends like it): the password is checked');
($s, $b) = http_json(GET => "$u/oauth/authorize?client_id=" . uri_esc('http://localhost')
                     . '&request_uri=' . uri_esc($request_uri));
is($s, 400, 'the request with another client_id: 400');

($s, $b, $res) = post_form('/oauth/authorize', { %page, password => 'olive-password-1' }, \%cookie);
is($s, 303, 'right password: 303');
my $loc = $res->{headers}{location} // '';
like($loc, qr{^\Qhttp://127.0.0.1:9/cb?code=cod-\E[0-9a-f]{64}&state=st-1&iss=}, '... to the registered URI with code, state, iss');
my ($code) = $loc =~ /code=(cod-[0-9a-f]{64})/;
($s) = post_form('/oauth/authorize', { %page, password => 'olive-password-1' }, \%cookie);
is($s, 400, 'the same request twice: 400 (used)');

# ---- token -----------------------------------------------------------------
my %tok = (grant_type => 'authorization_code', code => $code, redirect_uri => $redirect,
           code_verifier => $verifier, client_id => $client_id);
($s, $b) = post_form('/oauth/token', \%tok);
is($s, 401, 'token without DPoP: 401');
is($b->{error_description}, 'DPoP proof required', '... DPoP proof required');
($s, $b) = post_form('/oauth/token', \%tok, { DPoP => proof('POST', '/oauth/token') });
is($b->{error}, 'use_dpop_nonce', 'token: missing nonce');
($s, $b) = post_form('/oauth/token', { %tok, code_verifier => 'w' x 50 },
                     { DPoP => proof('POST', '/oauth/token', $nonce) });
is($b->{error}, 'invalid_grant', 'wrong verifier: invalid_grant');
is($b->{error_description}, 'Invalid code_verifier', '... Invalid code_verifier');
($s, $b) = post_form('/oauth/token', \%tok, { DPoP => proof('POST', '/oauth/token', $nonce, undef, $key2) });
is($b->{error}, 'invalid_dpop_key_binding', 'another DPoP key than at PAR: refused');
($s, $b) = post_form('/oauth/token', { %tok, grant_type => 'password' },
                     { DPoP => proof('POST', '/oauth/token', $nonce) });
is($b->{error}, 'unsupported_grant_type', 'grant_type password: unsupported');

($s, $b) = post_form('/oauth/token', \%tok, { DPoP => proof('POST', '/oauth/token', $nonce) });
is($s, 200, 'code exchanged') or diag explain $b;
is($b->{token_type}, 'DPoP', 'token_type DPoP');
is($b->{sub}, $acct->{did}, 'sub');
is($b->{scope}, 'atproto transition:generic', 'scope');
is($b->{expires_in}, 3600, 'an hour');
like($b->{refresh_token} // '', qr/^ref-[0-9a-f]{64}$/, 'refresh token');
my ($at, $rt) = ($b->{access_token}, $b->{refresh_token});
my (undef, $pl) = split /\./, $at;
$pl =~ tr{-_}{+/}; $pl .= '=' x ((4 - length($pl) % 4) % 4);
my $claims = json()->decode(decode_base64($pl));
is($claims->{cnf}{jkt}, $jkt, 'access token bound to the DPoP key (cnf.jkt)');
is($claims->{client_id}, $client_id, 'client_id claim');

($s, $b) = post_form('/oauth/token', \%tok, { DPoP => proof('POST', '/oauth/token', $nonce) });
is($b->{error}, 'invalid_grant', 'the code again: invalid_grant');
is($b->{error_description}, 'Code replayed', '... Code replayed');

# the replay revoked the tokens of the first exchange: start again
sub authorize {
    my %x = @_;
    my $v = $x{verifier} // 'w' . join('', map { ('a' .. 'z')[rand 26] } 1 .. 60);
    chomp(my $c = `$cli challenge $v`);
    my ($s, $b) = post_form('/oauth/par', { %par, code_challenge => $c },
                            { DPoP => proof('POST', '/oauth/par', $nonce) });
    my $ru = $b->{request_uri};
    ($s, $b, my $res) = http_json(GET => "$u/oauth/authorize?client_id=" . uri_esc($client_id)
                                  . '&request_uri=' . uri_esc($ru));
    my ($cs) = $b =~ /name="csrf" value="([0-9a-f]{32})"/;
    ($s, $b, $res) = post_form('/oauth/authorize',
        { request_uri => $ru, client_id => $client_id, csrf => $cs,
          username => 'olive.test', password => 'olive-password-1',
          action => $x{deny} ? 'deny' : 'accept' },
        { Cookie => "pds-oauth-csrf=$cs" });
    return $res->{headers}{location} if $x{deny};
    my ($code) = ($res->{headers}{location} // '') =~ /code=(cod-[0-9a-f]{64})/;
    ($s, $b) = post_form('/oauth/token', { %tok, code => $code, code_verifier => $v },
                         { DPoP => proof('POST', '/oauth/token', $nonce) });
    return $b;
}

like(authorize(deny => 1) // '', qr{^\Qhttp://127.0.0.1:9/cb?error=access_denied&state=st-1&iss=\E},
     'Deny: redirect with access_denied');

# response_mode=form_post: a page that posts the answer to the redirect URI
{
    chomp(my $c = `$cli challenge ${\('f' x 50)}`);
    ($s, $b) = post_form('/oauth/par', { %par, code_challenge => $c, response_mode => 'form_post' },
                         { DPoP => proof('POST', '/oauth/par', $nonce) });
    my $ru = $b->{request_uri};
    ($s, $b) = http_json(GET => "$u/oauth/authorize?client_id=" . uri_esc($client_id)
                         . '&request_uri=' . uri_esc($ru));
    my ($cs) = $b =~ /name="csrf" value="([0-9a-f]{32})"/;
    ($s, $b, $res) = post_form('/oauth/authorize',
        { request_uri => $ru, client_id => $client_id, csrf => $cs,
          username => 'olive.test', password => 'olive-password-1', action => 'accept' },
        { Cookie => "pds-oauth-csrf=$cs" });
    is($s, 200, 'form_post: 200, a page (no redirect)');
    ok(!$res->{headers}{location}, '... no Location');
    like($b, qr{<form method="post" action="\Q$redirect\E">}, '... a form posting to the redirect URI');
    like($b, qr{name="code" value="cod-[0-9a-f]{64}"}, '... with the code');
    like($b, qr{name="state" value="st-1"}, '... the state');
    like($b, qr{name="iss" value="\Q$pub\E"}, '... and the issuer');
    like($res->{headers}{'content-security-policy'} // '', qr/script-src 'sha256-[A-Za-z0-9+\/=]+'/,
         '... its one script allowed by hash');
}

$b = authorize(verifier => 'u' x 50);
ok($b->{access_token}, 'a second authorization');
my $again = authorize(verifier => 'u' x 50);
is($again->{error_description}, 'Code challenge already used',
   'a code challenge used for a second exchange: refused');
($rt) = $b->{refresh_token};
my %ref = (grant_type => 'refresh_token', refresh_token => $rt, client_id => $client_id);
($s, $b) = post_form('/oauth/token', \%ref, { DPoP => proof('POST', '/oauth/token', $nonce, undef, $key2) });
is($b->{error}, 'invalid_dpop_key_binding', 'refresh with another key: refused');
($s, $b) = post_form('/oauth/token', \%ref, { DPoP => proof('POST', '/oauth/token', $nonce) });
is($s, 200, 'refresh: 200');
isnt($b->{refresh_token}, $rt, 'refresh rotated');
my $rt2 = $b->{refresh_token};
($s, $b) = post_form('/oauth/token', \%ref, { DPoP => proof('POST', '/oauth/token', $nonce) });
is($b->{error_description}, 'Refresh token replayed', 'the old refresh token: replayed');
($s, $b) = post_form('/oauth/token', { %ref, refresh_token => $rt2 },
                     { DPoP => proof('POST', '/oauth/token', $nonce) });
is($b->{error_description}, 'Invalid refresh token', '... and the family is revoked');

# ---- the resource side --------------------------------------------------
sub xrpc {
    my ($method, $nsid, $token, %o) = @_;
    my $path = "/xrpc/$nsid" . ($o{query} // '');
    my %h = (Authorization => ($o{scheme} // 'DPoP') . " $token");
    $h{DPoP} = $o{proof} // proof($method, $path, $nonce, $token) unless $o{no_proof};
    return http_json($method, "$u$path", $o{body}, \%h);
}

$b = authorize();
my ($at2, $rt3) = ($b->{access_token}, $b->{refresh_token});
($s, $b, $res) = xrpc(GET => 'com.atproto.server.getSession', $at2);
is($s, 200, 'getSession with a DPoP-bound token') or diag explain $b;
is($b->{did}, $acct->{did}, '... the account');
ok(!exists $b->{email} && !exists $b->{emailConfirmed} && !exists $b->{emailAuthFactor},
   '... without the email: the scope has no transition:email (as the reference)');
like($res->{headers}{'dpop-nonce'} // '', qr/^[A-Za-z0-9_-]{43}$/, '... a DPoP-Nonce');
my $once = proof('GET', '/xrpc/com.atproto.server.getSession', $nonce, $at2);
($s) = xrpc(GET => 'com.atproto.server.getSession', $at2, proof => $once);
is($s, 200, 'a fresh proof: 200');
($s, $b) = xrpc(GET => 'com.atproto.server.getSession', $at2, proof => $once);
is($s, 401, 'the same proof again: 401');
is($b->{message}, 'DPoP proof replayed', '... DPoP proof replayed');
{
    # a proof refused for its token or key does not use up its jti: one
    # signed by another key is refused, the account's own with that jti is not
    my $j = sprintf 'review%026d', int rand 1e9;
    local $ENV{PDS_OAUTH_CLI_JTI} = $j;
    my $other = proof('GET', '/xrpc/com.atproto.server.getSession', $nonce, $at2, $key2);
    ($s, $b) = xrpc(GET => 'com.atproto.server.getSession', $at2, proof => $other);
    is_deeply([$s, $b->{error}], [401, 'invalid_dpop_key_binding'], 'a proof of another key: 401 invalid_dpop_key_binding');
    my $mine = proof('GET', '/xrpc/com.atproto.server.getSession', $nonce, $at2);
    ($s, $b) = xrpc(GET => 'com.atproto.server.getSession', $at2, proof => $mine);
    is($s, 200, '... its jti was not remembered: the right key\'s proof with it is served (refused requests fill no replay slots)')
        or diag explain $b;
}
($s, $b) = xrpc(POST => 'com.atproto.repo.createRecord', $at2,
                body => { repo => $acct->{did}, collection => 'app.bsky.feed.post',
                          record => { '$type' => 'app.bsky.feed.post', text => 'hello from OAuth',
                                      createdAt => '2026-01-01T00:00:00.000Z' } });
is($s, 200, 'createRecord with OAuth (transition:generic)') or diag explain $b;
like($b->{uri} // '', qr{^at://\Q$acct->{did}\E/app\.bsky\.feed\.post/}, '... the record');
($s, $b, $res) = xrpc(GET => 'com.atproto.server.getSession', $at2, no_proof => 1);
is($s, 401, 'no proof: 401');
is($b->{error}, 'invalid_dpop_proof', '... invalid_dpop_proof');
like($res->{headers}{'www-authenticate'} // '', qr/^DPoP /, '... WWW-Authenticate');
($s, $b) = xrpc(GET => 'com.atproto.server.getSession', $at2,
                proof => proof('GET', '/xrpc/com.atproto.server.getSession', $nonce));
is($b->{error}, 'invalid_dpop_proof', 'a proof without ath: refused');
($s, $b) = xrpc(GET => 'com.atproto.server.getSession', $at2,
                proof => proof('GET', '/xrpc/com.atproto.server.getSession', undef, $at2));
is($s, 401, 'a proof without nonce: 401');
is($b->{error}, 'use_dpop_nonce', '... use_dpop_nonce');
($s, $b) = xrpc(GET => 'com.atproto.server.getSession', $at2,
                proof => proof('GET', '/xrpc/com.atproto.server.describeServer', $nonce, $at2));
is($b->{error}, 'invalid_dpop_proof', 'a proof for another method URL: refused');
($s, $b) = xrpc(GET => 'com.atproto.server.getSession', $at2,
                proof => proof('GET', '/xrpc/com.atproto.server.getSession', $nonce, $at2, $key2));
is($b->{error}, 'invalid_dpop_key_binding', 'a proof by another key: invalid_dpop_key_binding');
($s, $b) = xrpc(GET => 'com.atproto.server.getSession', $at2, scheme => 'Bearer', no_proof => 1);
is($s, 400, 'the DPoP-bound token as a Bearer token: 400');
is($b->{error}, 'InvalidToken', '... InvalidToken');
($s, $b) = xrpc(POST => 'com.atproto.server.createAppPassword', $at2, body => { name => 'x' });
is($s, 403, 'a method the reference keeps from OAuth: 403');
is_deeply([$b->{error}, $b->{message}], ['Forbidden', 'OAuth credentials are not supported for this endpoint'],
          '... Forbidden, the reference\'s wording');

# a refresh ends the old access token at once (stateful tokens)
($s, $b) = post_form('/oauth/token', { %ref, refresh_token => $rt3 },
                     { DPoP => proof('POST', '/oauth/token', $nonce) });
is($s, 200, 'refresh');
my $at3 = $b->{access_token};
($s, $b) = xrpc(GET => 'com.atproto.server.getSession', $at2);
is($s, 401, 'the access token before the refresh: 401');
is($b->{error}, 'invalid_token', '... invalid_token');
($s, $b) = xrpc(GET => 'com.atproto.server.getSession', $at3);
is($s, 200, 'the new access token works');
($s) = post_form('/oauth/revoke', { token => $at3, client_id => $client_id });
($s, $b) = xrpc(GET => 'com.atproto.server.getSession', $at3);
is($b->{error}, 'invalid_token', 'revoked by its access token: invalid_token');

$b = authorize();
my ($at5, $rt5) = ($b->{access_token}, $b->{refresh_token});
($s, $b) = post_form('/oauth/revoke', { token => $rt5, client_id => 'https://other.example/client-metadata.json' });
is($s, 200, "revoke by another client: 200 (RFC 7009: as an unknown token)");
($s) = xrpc(GET => 'com.atproto.server.getSession', $at5);
is($s, 200, '... and nothing revoked: the token still works');
($s, $b) = post_form('/oauth/revoke', { token => $rt5, client_id => $client_id });
is($s, 200, 'revoke: 200');
($s, $b) = xrpc(GET => 'com.atproto.server.getSession', $at5);
is($b->{error}, 'invalid_token', '... by its client: revoked');
($s, $b) = post_form('/oauth/revoke', { token => 'nothing', client_id => $client_id });
is($s, 200, 'revoke of an unknown token: 200 (RFC 7009)');
($s, $b) = post_form('/oauth/revoke', { token => 'x' });
is($b->{error}, 'invalid_request', 'revoke without client_id: invalid_request');

# a takedown and a password change end what apps hold (as app sessions)
my %admin = (Authorization => PDSTest::basic_auth('admin', $pds->{admin}));
for my $case (['a takedown', sub {
                   http_json(POST => "$u/xrpc/com.atproto.admin.updateSubjectStatus",
                             { subject => { '$type' => 'com.atproto.admin.defs#repoRef', did => $acct->{did} },
                               takedown => { applied => JSON::PP::true(), ref => 'oauth-test' } }, \%admin);
               }, sub {
                   http_json(POST => "$u/xrpc/com.atproto.admin.updateSubjectStatus",
                             { subject => { '$type' => 'com.atproto.admin.defs#repoRef', did => $acct->{did} },
                               takedown => { applied => JSON::PP::false() } }, \%admin);
               }],
              ['a password change', sub {
                   http_json(POST => "$u/xrpc/com.atproto.admin.updateAccountPassword",
                             { did => $acct->{did}, password => 'olive-password-2' }, \%admin);
               }, undef])
{
    my ($what, $do, $undo) = @$case;
    $b = authorize();
    my ($at4, $rt4) = ($b->{access_token}, $b->{refresh_token});
    ($s) = xrpc(GET => 'com.atproto.server.getSession', $at4);
    is($s, 200, "before $what: the app's token works");
    ($s) = $do->();
    is($s, 200, "$what (admin)");
    $undo->() if $undo;
    ($s, $b) = xrpc(GET => 'com.atproto.server.getSession', $at4);
    is_deeply([$s, $b->{error}], [401, 'invalid_token'], "after $what: the app's access token is dead");
    ($s, $b) = post_form('/oauth/token', { %ref, refresh_token => $rt4 },
                         { DPoP => proof('POST', '/oauth/token', $nonce) });
    is($b->{error}, 'invalid_grant', "... and its refresh token");
}

# an identifier with no account is answered no sooner than a wrong
# password (no scrypt to run for it): nothing tells which emails have accounts
{
    require Time::HiRes;
    chomp(my $c = `$cli challenge ${\('t' x 50)}`);
    ($s, $b) = post_form('/oauth/par', { %par, code_challenge => $c },
                         { DPoP => proof('POST', '/oauth/par', $nonce) });
    my $ru = $b->{request_uri};
    ($s, $b) = http_json(GET => "$u/oauth/authorize?client_id=" . uri_esc($client_id)
                         . '&request_uri=' . uri_esc($ru));
    my ($cs) = $b =~ /name="csrf" value="([0-9a-f]{32})"/;
    my $t0 = Time::HiRes::time();
    ($s, $b) = post_form('/oauth/authorize',
        { request_uri => $ru, client_id => $client_id, csrf => $cs,
          username => 'nobody-here@example.com', password => 'whatever-1', action => 'accept' },
        { Cookie => "pds-oauth-csrf=$cs" });
    my $took = Time::HiRes::time() - $t0;
    is($s, 400, 'an unknown email on the page: 400');
    like($b, qr/Invalid identifier or password/, '... the same words as a wrong password');
    cmp_ok($took, '>=', 0.38, "... answered after the sign-in's minimum time (took ${\sprintf '%.3f', $took} s)");
}

# password guessing on the page: createSession's limit (30 per 5 minutes
# per identifier and address), counted together with createSession's
{
    chomp(my $c = `$cli challenge ${\('g' x 50)}`);
    ($s, $b) = post_form('/oauth/par', { %par, code_challenge => $c },
                         { DPoP => proof('POST', '/oauth/par', $nonce) });
    my $ru = $b->{request_uri};
    ($s, $b) = http_json(GET => "$u/oauth/authorize?client_id=" . uri_esc($client_id)
                         . '&request_uri=' . uri_esc($ru));
    my ($cs) = $b =~ /name="csrf" value="([0-9a-f]{32})"/;
    my ($tries, $last) = (0, 0);
    for (1 .. 40) {    # bounded
        ($s, $b) = post_form('/oauth/authorize',
            { request_uri => $ru, client_id => $client_id, csrf => $cs,
              username => 'olive.test', password => "guess-$_", action => 'accept' },
            { Cookie => "pds-oauth-csrf=$cs" });
        $tries++;
        $last = $s;
        last if $s == 429;
    }
    is($last, 429, 'wrong passwords on the page: refused with 429 once over the limit');
    ok($tries <= 31, "... after at most 30 attempts (the 429 came at try $tries)");
    like($b, qr/role="alert"[^>]*>Too many sign-in attempts/, '... the page says so (role=alert)');
    ($s, $b) = http_json(POST => "$u/xrpc/com.atproto.server.createSession",
                         { identifier => 'olive.test', password => 'olive-password-2' });
    is_deeply([$s, $b->{error}], [429, 'RateLimitExceeded'],
              '... and createSession of that identifier from that address too (one counter)');
}

# prompt: none and select_account cannot be met without a sign-in on this
# device (none here keeps one): the client is sent back the reference's
# error and the request is used up; login, consent and create show the page
for my $case (['none', 'login_required'], ['select_account', 'account_selection_required'],
              ['login', undef], ['create', undef]) {
    my ($prompt, $error) = @$case;
    my ($s, $b) = post_form('/oauth/par', { %par, prompt => $prompt },
                            { DPoP => proof('POST', '/oauth/par', $nonce) });
    is($s, 201, "PAR with prompt=$prompt: 201");
    my $q = "$u/oauth/authorize?client_id=" . uri_esc($client_id)
          . '&request_uri=' . uri_esc($b->{request_uri} // '');
    ($s, $b, my $res) = http_json(GET => $q);
    if ($error) {
        is($s, 303, "... the authorize page redirects at once");
        like($res->{headers}{location} // '', qr/^\Q$redirect\E\?error=\Q$error\E&state=st-1&iss=/,
             "... to the client with error=$error, state and iss");
        ($s, $b) = http_json(GET => $q);
        like($b, qr/expired or was already used/, '... and the request is used up');
    } else {
        is($s, 200, '... the sign-in page');
        like($b, qr/autocomplete="current-password"/, '... asking for the password');
    }
}
($s, $b) = post_form('/oauth/par', { %par, prompt => 'silently' },
                     { DPoP => proof('POST', '/oauth/par', $nonce) });
is_deeply([$s, $b->{error}], [400, 'invalid_request'], 'PAR with an unknown prompt: 400 invalid_request');

stop_all();
is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes in the error log');
done_testing();
