# com.atproto.repo.*: the answers that need no account.  Writes and their
# refusals, which need one, are flows: t/14-records.t, t/15-ratelimit.t,
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

plan tests => repeat_each() * 2;

run_tests();

__DATA__

=== TEST 1: describeRepo of an unknown DID
--- config eval: $::Tenant
--- request
GET /xrpc/com.atproto.repo.describeRepo?repo=did:plc:zzzzzzzzzzzzzzzzzzzzzzzz
--- error_code: 400
--- response_body_like: "error":"RepoNotFound"
