# com.atproto.identity.* and the handle's well-known document: the answers
# that need no account.  The flows (updateHandle through the PLC
# directory, resolveHandle after it) are in t/16-identity.t.
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

=== TEST 1: the well-known document of an unknown handle, by Host header
--- config eval: $::Tenant
--- more_headers
Host: nobody.test
--- request
GET /.well-known/atproto-did
--- error_code: 404
--- response_body chomp
User not found
