# Configuration errors: a missing or wrong setting makes nginx refuse to
# start, with a message naming the directive (--- must_die: nginx must exit
# non-zero, and --- error_log must be in what it logged).  The shipped
# example configurations and two tenants in a running nginx are in
# t/02-config-examples.t.
use Test::Nginx::Socket;

no_root_location();
no_shuffle();

plan tests => blocks() * 2;

run_tests();

__DATA__

=== TEST 1: pds_admin_password is required
--- config
        pds_hostname pds.example.com;
        pds_data_dir $TEST_NGINX_SERVROOT/data-x;
        pds_jwt_secret y;
        pds_plc_rotation_key cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd;
        location / { pds; }
--- must_die
--- error_log eval
qr/"pds_admin_password" is required/



=== TEST 2: pds_data_dir is required
--- config
        pds_hostname pds.example.com;
        pds_admin_password x;
        pds_jwt_secret y;
        pds_plc_rotation_key cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd;
        location / { pds; }
--- must_die
--- error_log eval
qr/"pds_data_dir" is required/



=== TEST 3: pds_jwt_secret is required
--- config
        pds_hostname pds.example.com;
        pds_admin_password x;
        pds_data_dir $TEST_NGINX_SERVROOT/data-x;
        pds_plc_rotation_key cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd;
        location / { pds; }
--- must_die
--- error_log eval
qr/"pds_jwt_secret" is required/



=== TEST 4: pds_plc_rotation_key is required
--- config
        pds_hostname pds.example.com;
        pds_admin_password x;
        pds_data_dir $TEST_NGINX_SERVROOT/data-x;
        pds_jwt_secret y;
        location / { pds; }
--- must_die
--- error_log eval
qr/"pds_plc_rotation_key" is required/



=== TEST 5: a short rotation key
--- config
        pds_hostname pds.example.com;
        pds_admin_password x;
        pds_data_dir $TEST_NGINX_SERVROOT/data-x;
        pds_jwt_secret y;
        pds_plc_rotation_key abc;
        location / { pds; }
--- must_die
--- error_log eval
qr/pds_plc_rotation_key" must be 64 hex digits/



=== TEST 6: a handle domain without a dot
--- config
        pds_hostname pds.example.com;
        pds_admin_password x;
        pds_data_dir $TEST_NGINX_SERVROOT/data-x;
        pds_jwt_secret y;
        pds_plc_rotation_key cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd;
        pds_handle_domains example.com;
        location / { pds; }
--- must_die
--- error_log eval
qr/pds_handle_domains.*must start with a dot/



=== TEST 7: an empty secret file (a lone newline)
--- user_files eval
[ [ 'secrets/empty' => "\n" ] ]
--- config
        pds_hostname pds.example.com;
        pds_admin_password x;
        pds_data_dir $TEST_NGINX_SERVROOT/data-x;
        pds_plc_rotation_key cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd;
        pds_jwt_secret_file $TEST_NGINX_HTML_DIR/secrets/empty;
        location / { pds; }
--- must_die
--- error_log eval
qr/secret file .* is empty/



=== TEST 8: a missing secret file
--- config
        pds_hostname pds.example.com;
        pds_admin_password x;
        pds_data_dir $TEST_NGINX_SERVROOT/data-x;
        pds_plc_rotation_key cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd;
        pds_jwt_secret_file $TEST_NGINX_HTML_DIR/secrets/nope;
        location / { pds; }
--- must_die
--- error_log eval
qr/secrets\/nope" failed/



=== TEST 9: an unknown directive
--- config
        pds_hostname pds.example.com;
        pds_admin_password x;
        pds_data_dir $TEST_NGINX_SERVROOT/data-x;
        pds_jwt_secret y;
        pds_plc_rotation_key cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd;
        pds_nonsense on;
        location / { pds; }
--- must_die
--- error_log eval
qr/unknown directive "pds_nonsense"/



=== TEST 10: two tenants cannot share a data directory
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_SERVER_PORT;
        server_name b.example.com;
        pds_hostname b.example.com;
        pds_data_dir $TEST_NGINX_SERVROOT/data-x;
        pds_admin_password x;
        pds_jwt_secret y;
        pds_plc_rotation_key cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd;
        location / { pds; }
    }
--- config
        pds_hostname a.example.com;
        pds_data_dir $TEST_NGINX_SERVROOT/data-x;
        pds_admin_password x;
        pds_jwt_secret y;
        pds_plc_rotation_key cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd;
        location / { pds; }
--- must_die
--- error_log
already used by another server block
