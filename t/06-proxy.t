# The service proxy's refusals, which need no account and no running
# AppView (the AppView's address is a closed port here): no session, a
# protected method, a method other than GET, HEAD and POST, a path that is
# not an NSID, the internal location; and a tenant without an AppView.  The
# proxying itself, against stand-in services, is t/interop/50-proxy-appview.t.
use Test::Nginx::Socket;

repeat_each(2);
no_root_location();
no_shuffle();

our $AppView = <<'_EOC_';
        pds_hostname localhost;
        pds_data_dir $TEST_NGINX_SERVROOT/data;
        pds_admin_password admin-secret;
        pds_jwt_secret jwt-secret;
        pds_plc_rotation_key 8a4b1c5e1b2b3a0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d;
        pds_appview_url http://127.0.0.1:1;
        pds_appview_did did:web:appview.test;
        location / { pds; }
_EOC_

our $Bare = <<'_EOC_';
        pds_hostname localhost;
        pds_data_dir $TEST_NGINX_SERVROOT/data;
        pds_admin_password admin-secret;
        pds_jwt_secret jwt-secret;
        pds_plc_rotation_key 8a4b1c5e1b2b3a0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d;
        location / { pds; }
_EOC_

plan tests => repeat_each() * 12;

run_tests();

__DATA__

=== TEST 1: a proxied method without a session: the reference's AuthMissing
--- config eval: $::AppView
--- request
GET /xrpc/app.bsky.feed.getTimeline
--- error_code: 401
--- response_body_like: "error":"AuthMissing"



=== TEST 2: protected methods are never proxied
--- config eval: $::AppView
--- request
POST /xrpc/com.atproto.admin.sendEmail
{}
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body chomp
{"error":"InvalidToken","message":"Bad token method"}



=== TEST 3: only GET, HEAD and POST
--- config eval: $::AppView
--- request
PUT /xrpc/app.bsky.feed.getTimeline
--- error_code: 400
--- response_body chomp
{"error":"InvalidRequest","message":"XRPC requests only supports GET and POST"}



=== TEST 4: not an NSID: 501
--- config eval: $::AppView
--- request
GET /xrpc/nonsense
--- error_code: 501



=== TEST 5: the internal location cannot be reached from outside
--- config eval: $::AppView
--- request
GET /_pds_proxy
--- error_code: 404



=== TEST 6: no AppView configured: the reference's message
--- config eval: $::Bare
--- request
GET /xrpc/app.bsky.feed.getTimeline
--- error_code: 400
--- response_body_like: "message":"No service configured for app\.bsky\.feed\.getTimeline"



=== TEST 7: no moderation service
--- config eval: $::Bare
--- request
GET /xrpc/tools.ozone.moderation.getRepo?did=x
--- error_code: 400
--- response_body_like: "message":"No service configured for tools\.ozone\.moderation\.getRepo"
