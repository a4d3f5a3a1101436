# The first XRPC routes: _health, describeServer, the banner and robots.txt,
# the dispatch table's errors, and two PDS tenants in one nginx; the
# com.atproto.server.* answers that need no account.
use Test::Nginx::Socket;

repeat_each(2);
no_root_location();
no_shuffle();

our $Tenant = <<'_EOC_';
        pds_hostname localhost;
        pds_data_dir $TEST_NGINX_SERVROOT/data;
        pds_admin_password admin-secret;
        pds_jwt_secret jwt-secret;
        pds_plc_rotation_key 8a4b1c5e1b2b3a0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d;
        location / { pds; }
_EOC_

our $Two = <<'_EOC_';
    server {
        listen 127.0.0.1:$TEST_NGINX_SERVER_PORT;
        server_name pds-a.example.com;
        pds_hostname pds-a.example.com;
        pds_data_dir $TEST_NGINX_SERVROOT/data-a;
        pds_admin_password secret-a;
        pds_jwt_secret jwt-a;
        pds_plc_rotation_key 1111111111111111111111111111111111111111111111111111111111111111;
        pds_invite_required off;
        pds_contact_email admin@pds-a.example.com;
        location / { pds; }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_SERVER_PORT;
        server_name pds-b.example.net;
        pds_hostname pds-b.example.net;
        pds_service_did did:web:b.example.net;
        pds_handle_domains .b.example.net .users.example.net;
        pds_data_dir $TEST_NGINX_SERVROOT/data-b;
        pds_admin_password secret-b;
        pds_jwt_secret jwt-b;
        pds_plc_rotation_key 2222222222222222222222222222222222222222222222222222222222222222;
        pds_privacy_policy_url https://b.example.net/privacy;
        pds_blob_upload_limit 1m;
        location / { pds; }
    }
_EOC_

plan tests => repeat_each() * 25;

run_tests();

__DATA__

=== TEST 1: _health answers the module version
--- config eval: $::Tenant
--- request
GET /xrpc/_health
--- response_headers
Content-Type: application/json; charset=utf-8
--- response_body chomp
{"version":"0.1.0"}
--- no_error_log
[error]



=== TEST 2: describeServer for localhost: did:web, .test, invites required
--- config eval: $::Tenant
--- request
GET /xrpc/com.atproto.server.describeServer
--- response_body chomp
{"did":"did:web:localhost","availableUserDomains":[".test"],"inviteCodeRequired":true,"blobUploadLimit":5242880,"links":{},"contact":{}}



=== TEST 3: a procedure called with GET
--- config eval: $::Tenant
--- request
POST /xrpc/com.atproto.server.describeServer
{}
--- error_code: 400
--- response_body chomp
{"error":"InvalidRequest","message":"Incorrect HTTP method (POST) expected GET"}



=== TEST 4: unknown methods go to the proxy: without an AppView, the reference's 400
--- config eval: $::Tenant
--- request
GET /xrpc/com.example.nothing.here
--- error_code: 400
--- response_body chomp
{"error":"InvalidRequest","message":"No service configured for com.example.nothing.here"}



=== TEST 5: NSIDs are case sensitive
--- config eval: $::Tenant
--- request
GET /xrpc/com.atproto.server.describeserver
--- error_code: 400
--- response_body_like: No service configured for com\.atproto\.server\.describeserver



=== TEST 6: the banner
--- config eval: $::Tenant
--- request
GET /
--- response_headers
Content-Type: text/plain; charset=utf-8
--- response_body_like: This is an AT Protocol Personal Data Server.*Most API routes are under /xrpc/



=== TEST 7: robots.txt
--- config eval: $::Tenant
--- request
GET /robots.txt
--- response_body
# Hello!

# Crawling the public API is allowed
User-agent: *
Allow: /



=== TEST 8: other paths are not found
--- config eval: $::Tenant
--- request
GET /nothing/here
--- error_code: 404
--- response_body_like: 404 Not Found



=== TEST 9: tenant A by its Host header
--- http_config eval: $::Two
--- config
--- more_headers
Host: pds-a.example.com
--- request
GET /xrpc/com.atproto.server.describeServer
--- response_body chomp
{"did":"did:web:pds-a.example.com","availableUserDomains":[".pds-a.example.com"],"inviteCodeRequired":false,"blobUploadLimit":5242880,"links":{},"contact":{"email":"admin@pds-a.example.com"}}



=== TEST 10: tenant B by its Host header, with its own DID, domains and blob limit
--- http_config eval: $::Two
--- config
--- more_headers
Host: pds-b.example.net
--- request
GET /xrpc/com.atproto.server.describeServer
--- response_body chomp
{"did":"did:web:b.example.net","availableUserDomains":[".b.example.net",".users.example.net"],"inviteCodeRequired":true,"blobUploadLimit":1048576,"links":{"privacyPolicy":"https://b.example.net/privacy"},"contact":{}}



=== TEST 11: reserveSigningKey gives a secp256k1 did:key
--- config eval: $::Tenant
--- request
POST /xrpc/com.atproto.server.reserveSigningKey
{}
--- more_headers
Content-Type: application/json
--- response_body_like: "signingKey":"did:key:zQ3s
