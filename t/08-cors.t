# CORS as the reference answers it (express's cors middleware with a day's
# max-age): every answer carries Access-Control-Allow-Origin: *, errors
# included; a preflight to any path of the PDS is 204 with the reference's
# methods, the requested headers echoed and Access-Control-Max-Age 86400.
# Checked side by side against the reference PDS 0.5.35: the same headers
# for every preflight below, except the reference's "Content-Length: 0" on
# its 204, which nginx leaves out (RFC 9110 8.6).
use Test::Nginx::Socket;

repeat_each(1);
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

plan tests => 39;

run_tests();

__DATA__

=== TEST 1: a preflight for an XRPC procedure
--- config eval: $::Tenant
--- request
OPTIONS /xrpc/com.atproto.server.createSession
--- more_headers
Origin: https://bsky.app
Access-Control-Request-Method: POST
Access-Control-Request-Headers: authorization,content-type,atproto-accept-labelers
--- error_code: 204
--- response_headers
Access-Control-Allow-Origin: *
Access-Control-Allow-Methods: GET,HEAD,PUT,PATCH,POST,DELETE
Access-Control-Allow-Headers: authorization,content-type,atproto-accept-labelers
Access-Control-Max-Age: 86400
Vary: Access-Control-Request-Headers
--- response_body chomp

--- no_error_log
[error]



=== TEST 2: a preflight for a proxied method and for an unknown path
--- config eval: $::Tenant
--- request
OPTIONS /xrpc/app.bsky.feed.getTimeline
--- more_headers
Origin: https://bsky.app
Access-Control-Request-Method: GET
--- error_code: 204
--- response_headers
Access-Control-Allow-Origin: *
Access-Control-Allow-Methods: GET,HEAD,PUT,PATCH,POST,DELETE
Access-Control-Allow-Headers:
Access-Control-Max-Age: 86400



=== TEST 3: an empty Access-Control-Request-Headers: nothing to allow
--- config eval: $::Tenant
--- request
OPTIONS /xrpc/com.atproto.server.describeServer
--- more_headers
Origin: https://bsky.app
Access-Control-Request-Method: GET
Access-Control-Request-Headers:
--- error_code: 204
--- response_headers
Access-Control-Allow-Origin: *
Access-Control-Allow-Methods: GET,HEAD,PUT,PATCH,POST,DELETE
Access-Control-Allow-Headers:
Vary: Access-Control-Request-Headers
Content-Length:



=== TEST 4: requested headers on two lines are echoed as one list
--- config eval: $::Tenant
--- request
OPTIONS /xrpc/com.atproto.repo.uploadBlob
--- more_headers
Origin: null
Access-Control-Request-Method: POST
Access-Control-Request-Headers: Authorization, DPoP
Access-Control-Request-Headers: content-type
--- error_code: 204
--- response_headers
Access-Control-Allow-Origin: *
Access-Control-Allow-Headers: Authorization, DPoP, content-type
Access-Control-Max-Age: 86400



=== TEST 5: a bare OPTIONS (no Origin, no requested method) is answered the same
--- config eval: $::Tenant
--- request
OPTIONS /
--- error_code: 204
--- response_headers
Access-Control-Allow-Origin: *
Access-Control-Allow-Methods: GET,HEAD,PUT,PATCH,POST,DELETE
Access-Control-Max-Age: 86400
Vary: Access-Control-Request-Headers



=== TEST 6: an answer carries Access-Control-Allow-Origin
--- config eval: $::Tenant
--- request
GET /xrpc/com.atproto.server.describeServer
--- more_headers
Origin: https://bsky.app
--- response_headers
Access-Control-Allow-Origin: *
Content-Type: application/json; charset=utf-8



=== TEST 7: so does an XRPC error, readable by the page
--- config eval: $::Tenant
--- request
GET /xrpc/com.atproto.server.getSession
--- more_headers
Origin: https://bsky.app
--- error_code: 401
--- response_headers
Access-Control-Allow-Origin: *
--- response_body_like: "error":"AuthMissing"



=== TEST 8: and the banner and an unknown path
--- config eval: $::Tenant
--- request
GET /nothing-here
--- error_code: 404
--- response_headers
Access-Control-Allow-Origin: *



=== TEST 9: a location without pds is left alone
--- config
        pds_hostname localhost;
        pds_data_dir $TEST_NGINX_SERVROOT/data;
        pds_admin_password admin-secret;
        pds_jwt_secret jwt-secret;
        pds_plc_rotation_key 8a4b1c5e1b2b3a0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d;
        location / { pds; }
        location /static/ { return 200 "static"; }
--- request
GET /static/x
--- response_headers
Access-Control-Allow-Origin:
--- response_body chomp
static
