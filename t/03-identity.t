# com.atproto.identity.* and the handle's well-known document: the answers
# that need no account, and the handle policy as createAccount applies it
# (the reference's answers, compared against @atproto/pds 0.5.35: a
# handle's syntax is the Lexicon's to refuse, InvalidRequest with the
# value's preview; then the TLD, the domain, the label, reserved names).
# The flows (updateHandle through the PLC directory, resolveHandle after
# it, updateHandle's own refusals) are in t/16-identity.t and
# t/13-input-order.t.
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

plan tests => repeat_each() * 30;

run_tests();

__DATA__

=== TEST 1: the well-known document of an unknown handle, by Host header
--- config eval: $::Tenant
--- more_headers
Host: nobody.test
--- request
GET /.well-known/atproto-did
--- error_code: 404
--- response_body chomp
User not found



=== TEST 2: createAccount: a handle that is not one (its syntax): InvalidRequest
--- config eval: $::Tenant
--- request
POST /xrpc/com.atproto.server.createAccount
{"handle":"bad_handle!.test","email":"carol@example.com","password":"carol-password","inviteCode":"localhost-aaaaa-bbbbb"}
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body chomp
{"error":"InvalidRequest","message":"Invalid handle (got \"bad_handle!.test\") at $.handle"}



=== TEST 3: createAccount: one label is no handle
--- config eval: $::Tenant
--- request
POST /xrpc/com.atproto.server.createAccount
{"handle":"nodot","email":"carol@example.com","password":"carol-password","inviteCode":"localhost-aaaaa-bbbbb"}
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body chomp
{"error":"InvalidRequest","message":"Invalid handle (got \"nodot\") at $.handle"}



=== TEST 4: createAccount: a numeric TLD is no handle
--- config eval: $::Tenant
--- request
POST /xrpc/com.atproto.server.createAccount
{"handle":"carol.123","email":"carol@example.com","password":"carol-password","inviteCode":"localhost-aaaaa-bbbbb"}
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body chomp
{"error":"InvalidRequest","message":"Invalid handle (got \"carol.123\") at $.handle"}



=== TEST 5: createAccount: a handle that is not a string
--- config eval: $::Tenant
--- request
POST /xrpc/com.atproto.server.createAccount
{"handle":5,"email":"carol@example.com","password":"carol-password","inviteCode":"localhost-aaaaa-bbbbb"}
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body chomp
{"error":"InvalidRequest","message":"Expected string value type (got 5) at $.handle"}



=== TEST 6: createAccount: a disallowed TLD (valid syntax): InvalidHandle
--- config eval: $::Tenant
--- request
POST /xrpc/com.atproto.server.createAccount
{"handle":"carol.local","email":"carol@example.com","password":"carol-password","inviteCode":"localhost-aaaaa-bbbbb"}
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body chomp
{"error":"InvalidHandle","message":"Handle TLD is invalid or disallowed"}



=== TEST 7: createAccount: another domain
--- config eval: $::Tenant
--- request
POST /xrpc/com.atproto.server.createAccount
{"handle":"carol.example.com","email":"carol@example.com","password":"carol-password","inviteCode":"localhost-aaaaa-bbbbb"}
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body chomp
{"error":"UnsupportedDomain","message":"Not a supported handle domain"}



=== TEST 8: createAccount: a label over 18 characters
--- config eval: $::Tenant
--- request
POST /xrpc/com.atproto.server.createAccount
{"handle":"abcdefghijklmnopqrstuvwxyz.test","email":"carol@example.com","password":"carol-password","inviteCode":"localhost-aaaaa-bbbbb"}
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body chomp
{"error":"InvalidHandle","message":"Handle too long"}



=== TEST 9: createAccount: a label under 3 characters
--- config eval: $::Tenant
--- request
POST /xrpc/com.atproto.server.createAccount
{"handle":"ab.test","email":"carol@example.com","password":"carol-password","inviteCode":"localhost-aaaaa-bbbbb"}
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body chomp
{"error":"InvalidHandle","message":"Handle too short"}



=== TEST 10: createAccount: two labels in front of the domain
--- config eval: $::Tenant
--- request
POST /xrpc/com.atproto.server.createAccount
{"handle":"a.carol.test","email":"carol@example.com","password":"carol-password","inviteCode":"localhost-aaaaa-bbbbb"}
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body chomp
{"error":"InvalidHandle","message":"Invalid characters in handle"}



=== TEST 11: createAccount: a reserved name
--- config eval: $::Tenant
--- request
POST /xrpc/com.atproto.server.createAccount
{"handle":"admin.test","email":"carol@example.com","password":"carol-password","inviteCode":"localhost-aaaaa-bbbbb"}
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body chomp
{"error":"HandleNotAvailable","message":"Reserved handle"}



=== TEST 12: createAccount: a long value, its preview cut as the reference cuts it
--- config eval: $::Tenant
--- request
POST /xrpc/com.atproto.server.createAccount
{"handle":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.test","email":"carol@example.com","password":"carol-password","inviteCode":"localhost-aaaaa-bbbbb"}
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body chomp
{"error":"InvalidRequest","message":"Invalid handle (got \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa…\") at $.handle"}



=== TEST 13: createAccount without a handle: the Lexicon's wording
--- config eval: $::Tenant
--- request
POST /xrpc/com.atproto.server.createAccount
{"email":"carol@example.com","password":"carol-password"}
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body chomp
{"error":"InvalidRequest","message":"Missing required key \"handle\" at $"}



=== TEST 14: checkSignupQueue needs a session
--- config eval: $::Tenant
--- request
GET /xrpc/com.atproto.temp.checkSignupQueue
--- error_code: 401
--- response_body chomp
{"error":"AuthMissing","message":"Authentication Required"}



=== TEST 15: reserveSigningKey with something that is not a DID: the Lexicon's wording
--- config eval: $::Tenant
--- request
POST /xrpc/com.atproto.server.reserveSigningKey
{"did":"nope"}
--- more_headers
Content-Type: application/json
--- error_code: 400
--- response_body chomp
{"error":"InvalidRequest","message":"Invalid DID (got \"nope\") at $.did"}
