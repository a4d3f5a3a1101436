# com.atproto.repo.* (and sync.getBlob): the answers that need no account,
# worded as the reference's (@atproto/pds 0.5.35): parameters are checked
# against their Lexicon before anything else ("Invalid <nsid> params:
# ..."), a write needs a session before its input is looked at, and a
# getRecord of a repo hosted elsewhere goes to the AppView (none here:
# "Could not locate record"; with one: t/06-proxy.t and
# t/interop/50-proxy-appview.t).  Writes and their refusals, which need an
# account, are flows: t/13-input-order.t, t/14-records.t, t/15-ratelimit.t,
# t/18-concurrent-writes.t.
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

plan tests => repeat_each() * 28;

run_tests();

__DATA__

=== TEST 1: describeRepo of an unknown DID
--- config eval: $::Tenant
--- request
GET /xrpc/com.atproto.repo.describeRepo?repo=did:plc:zzzzzzzzzzzzzzzzzzzzzzzz
--- error_code: 400
--- response_body_like: "error":"RepoNotFound"



=== TEST 2: getRecord without repo
--- config eval: $::Tenant
--- request
GET /xrpc/com.atproto.repo.getRecord?collection=app.bsky.feed.post&rkey=abc
--- error_code: 400
--- response_body chomp
{"error":"InvalidRequest","message":"Invalid com.atproto.repo.getRecord params: Missing required key \"repo\""}



=== TEST 3: getRecord: an empty value is a missing one
--- config eval: $::Tenant
--- request
GET /xrpc/com.atproto.repo.getRecord?repo=&collection=app.bsky.feed.post&rkey=abc
--- error_code: 400
--- response_body chomp
{"error":"InvalidRequest","message":"Invalid com.atproto.repo.getRecord params: Missing required key \"repo\""}



=== TEST 4: getRecord: repo is no AT identifier (before the collection is looked at)
--- config eval: $::Tenant
--- request
GET /xrpc/com.atproto.repo.getRecord?repo=not_a_repo&collection=bad&rkey=a/b
--- error_code: 400
--- response_body chomp
{"error":"InvalidRequest","message":"Invalid com.atproto.repo.getRecord params: Invalid AT identifier (got \"not_a_repo\")"}



=== TEST 5: getRecord: an invalid collection
--- config eval: $::Tenant
--- request
GET /xrpc/com.atproto.repo.getRecord?repo=did:plc:zzzzzzzzzzzzzzzzzzzzzzzz&collection=notnsid&rkey=abc
--- error_code: 400
--- response_body chomp
{"error":"InvalidRequest","message":"Invalid com.atproto.repo.getRecord params: Invalid NSID (got \"notnsid\")"}



=== TEST 6: getRecord: an invalid record key
--- config eval: $::Tenant
--- request
GET /xrpc/com.atproto.repo.getRecord?repo=did:plc:zzzzzzzzzzzzzzzzzzzzzzzz&collection=app.bsky.feed.post&rkey=a%2Fb
--- error_code: 400
--- response_body chomp
{"error":"InvalidRequest","message":"Invalid com.atproto.repo.getRecord params: Invalid record key (got \"a/b\")"}



=== TEST 7: getRecord: an invalid cid
--- config eval: $::Tenant
--- request
GET /xrpc/com.atproto.repo.getRecord?repo=did:plc:zzzzzzzzzzzzzzzzzzzzzzzz&collection=app.bsky.feed.post&rkey=abc&cid=zzz
--- error_code: 400
--- response_body chomp
{"error":"InvalidRequest","message":"Invalid com.atproto.repo.getRecord params: Invalid CID string (got \"zzz\")"}



=== TEST 8: getRecord of a repo not hosted here, no AppView
--- config eval: $::Tenant
--- request
GET /xrpc/com.atproto.repo.getRecord?repo=did:plc:zzzzzzzzzzzzzzzzzzzzzzzz&collection=app.bsky.feed.post&rkey=abc&cid=
--- error_code: 400
--- response_body chomp
{"error":"InvalidRequest","message":"Could not locate record"}



=== TEST 9: getBlob without cid
--- config eval: $::Tenant
--- request
GET /xrpc/com.atproto.sync.getBlob?did=did:plc:zzzzzzzzzzzzzzzzzzzzzzzz
--- error_code: 400
--- response_body chomp
{"error":"InvalidRequest","message":"Invalid com.atproto.sync.getBlob params: Missing required key \"cid\""}



=== TEST 10: getBlob: did is no DID
--- config eval: $::Tenant
--- request
GET /xrpc/com.atproto.sync.getBlob?did=bad&cid=bad
--- error_code: 400
--- response_body chomp
{"error":"InvalidRequest","message":"Invalid com.atproto.sync.getBlob params: Invalid DID (got \"bad\")"}



=== TEST 11: getBlob: an invalid cid
--- config eval: $::Tenant
--- request
GET /xrpc/com.atproto.sync.getBlob?did=did:plc:zzzzzzzzzzzzzzzzzzzzzzzz&cid=notacid
--- error_code: 400
--- response_body chomp
{"error":"InvalidRequest","message":"Invalid com.atproto.sync.getBlob params: Invalid CID string (got \"notacid\")"}



=== TEST 12: getBlob of a repo not hosted here
--- config eval: $::Tenant
--- request
GET /xrpc/com.atproto.sync.getBlob?did=did:plc:zzzzzzzzzzzzzzzzzzzzzzzz&cid=bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku
--- error_code: 400
--- response_body chomp
{"error":"RepoNotFound","message":"Could not find repo for DID: did:plc:zzzzzzzzzzzzzzzzzzzzzzzz"}



=== TEST 13: createRecord without a session: the session first, the input after
--- config eval: $::Tenant
--- request
POST /xrpc/com.atproto.repo.createRecord
{}
--- more_headers
Content-Type: application/json
--- error_code: 401
--- response_body chomp
{"error":"AuthMissing","message":"Authentication Required"}



=== TEST 14: applyWrites with a bad token and a bad input: the token first
--- config eval: $::Tenant
--- request
POST /xrpc/com.atproto.repo.applyWrites
{"writes":5}
--- more_headers
Content-Type: application/json
Authorization: Bearer junk
--- error_code: 400
--- response_body chomp
{"error":"InvalidToken","message":"Token could not be verified"}
