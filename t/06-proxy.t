# The service proxy's refusals, which need no account and no running
# AppView (the AppView's address is a closed port here): no session, a
# protected method, a method other than GET, HEAD and POST, a path that is
# not an NSID, the internal location; and a tenant without an AppView.
# The AppView methods served here (getFeed, registerPush, unregisterPush):
# getFeed's parameters are checked before the session, as the reference
# does; without an AppView they are not served.  getRecord of a repo not
# hosted here is forwarded (502 from the closed port).  The proxying
# itself, against stand-in services that verify the tokens, is
# t/interop/50-proxy-appview.t.
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

plan tests => repeat_each() * 42;

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



=== TEST 8: getFeed: the parameters before the session (a feed that is no AT-URI)
--- config eval: $::AppView
--- request
GET /xrpc/app.bsky.feed.getFeed?feed=notauri
--- error_code: 400
--- response_body chomp
{"error":"InvalidRequest","message":"Invalid app.bsky.feed.getFeed params: Invalid at-uri (got \"notauri\")"}



=== TEST 9: getFeed without feed
--- config eval: $::AppView
--- request
GET /xrpc/app.bsky.feed.getFeed
--- error_code: 400
--- response_body chomp
{"error":"InvalidRequest","message":"Invalid app.bsky.feed.getFeed params: Missing required key \"feed\""}



=== TEST 10: getFeed: limit over 100
--- config eval: $::AppView
--- request
GET /xrpc/app.bsky.feed.getFeed?feed=at://did:plc:zzzzzzzzzzzzzzzzzzzzzzzz/app.bsky.feed.generator/cats&limit=500
--- error_code: 400
--- response_body chomp
{"error":"InvalidRequest","message":"Invalid app.bsky.feed.getFeed params: integer too big (maximum 100, got 500)"}



=== TEST 11: getFeed: limit under 1
--- config eval: $::AppView
--- request
GET /xrpc/app.bsky.feed.getFeed?feed=at://did:plc:zzzzzzzzzzzzzzzzzzzzzzzz/app.bsky.feed.generator/cats&limit=0
--- error_code: 400
--- response_body chomp
{"error":"InvalidRequest","message":"Invalid app.bsky.feed.getFeed params: integer too small (minimum 1, got 0)"}



=== TEST 12: getFeed: limit not an integer
--- config eval: $::AppView
--- request
GET /xrpc/app.bsky.feed.getFeed?feed=at://did:plc:zzzzzzzzzzzzzzzzzzzzzzzz/app.bsky.feed.generator/cats&limit=1.5
--- error_code: 400
--- response_body chomp
{"error":"InvalidRequest","message":"Invalid app.bsky.feed.getFeed params: Expected integer value type (got \"1.5\")"}



=== TEST 13: getFeed with good parameters needs a session
--- config eval: $::AppView
--- request
GET /xrpc/app.bsky.feed.getFeed?feed=at://did:plc:zzzzzzzzzzzzzzzzzzzzzzzz/app.bsky.feed.generator/cats
--- error_code: 401
--- response_body chomp
{"error":"AuthMissing","message":"Authentication Required"}



=== TEST 14: getFeed is a query
--- config eval: $::AppView
--- request
POST /xrpc/app.bsky.feed.getFeed?feed=at://did:plc:zzzzzzzzzzzzzzzzzzzzzzzz/app.bsky.feed.generator/cats
--- error_code: 400
--- response_body chomp
{"error":"InvalidRequest","message":"Incorrect HTTP method (POST) expected GET"}



=== TEST 15: registerPush needs a session
--- config eval: $::AppView
--- request
POST /xrpc/app.bsky.notification.registerPush
{}
--- more_headers
Content-Type: application/json
--- error_code: 401
--- response_body chomp
{"error":"AuthMissing","message":"Authentication Required"}



=== TEST 16: registerPush is a procedure
--- config eval: $::AppView
--- request
GET /xrpc/app.bsky.notification.registerPush
--- error_code: 400
--- response_body chomp
{"error":"InvalidRequest","message":"Incorrect HTTP method (GET) expected POST"}



=== TEST 17: unregisterPush needs a session
--- config eval: $::AppView
--- request
POST /xrpc/app.bsky.notification.unregisterPush
{}
--- more_headers
Content-Type: application/json
--- error_code: 401
--- response_body chomp
{"error":"AuthMissing","message":"Authentication Required"}



=== TEST 18: checkSignupQueue is a query
--- config eval: $::AppView
--- request
POST /xrpc/com.atproto.temp.checkSignupQueue
{}
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body chomp
{"error":"InvalidRequest","message":"Incorrect HTTP method (POST) expected GET"}



=== TEST 19: no AppView: getFeed is not served
--- config eval: $::Bare
--- request
GET /xrpc/app.bsky.feed.getFeed?feed=at://did:plc:zzzzzzzzzzzzzzzzzzzzzzzz/app.bsky.feed.generator/cats
--- error_code: 400
--- response_body chomp
{"error":"InvalidRequest","message":"No service configured for app.bsky.feed.getFeed"}



=== TEST 20: no AppView: registerPush is not served
--- config eval: $::Bare
--- request
POST /xrpc/app.bsky.notification.registerPush
{}
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body chomp
{"error":"InvalidRequest","message":"No service configured for app.bsky.notification.registerPush"}



=== TEST 21: getRecord of a repo hosted elsewhere goes to the AppView (unreachable here)
--- config eval: $::AppView
--- request
GET /xrpc/com.atproto.repo.getRecord?repo=did:plc:zzzzzzzzzzzzzzzzzzzzzzzz&collection=app.bsky.feed.post&rkey=abc
--- error_code: 502
--- response_body chomp
{"error":"UpstreamFailure","message":"Upstream service unreachable"}



=== TEST 22: getRecord: its parameters checked before it is forwarded
--- config eval: $::AppView
--- request
GET /xrpc/com.atproto.repo.getRecord?repo=did:plc:zzzzzzzzzzzzzzzzzzzzzzzz&collection=bad&rkey=abc
--- error_code: 400
--- response_body chomp
{"error":"InvalidRequest","message":"Invalid com.atproto.repo.getRecord params: Invalid NSID (got \"bad\")"}
