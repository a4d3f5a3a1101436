# The shipped example configurations (conf/*.conf) pass nginx -t, and two
# tenants in one running nginx get separate LMDB environments and answer
# with their own identity.  Configuration errors are data-driven blocks in
# t/02-config.t.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PDSTest qw(scratch_dir module_path nginx_test start_nginx free_port
               write_file http_json stop_all log_problems);

my $module = module_path();
plan skip_all => "no module at $module (run make)" unless -f $module;

my $dir = scratch_dir();
mkdir "$dir/secrets", 0700;
write_file("$dir/secrets/admin_password", "admin pass from a file\n");
write_file("$dir/secrets/jwt_secret", "0123456789abcdef\n");
write_file("$dir/secrets/plc_rotation_key",
           ('ab' x 32) . "\n");

sub example {
    my ($file, $port) = @_;
    open my $fh, '<', $file or die $!;
    local $/;
    my $c = <$fh>;
    $c =~ s/MODULE_PATH/$module/g;
    $c =~ s/LISTEN_PORT/$port/g;
    $c =~ s/DATA_DIR/$dir\/data/g;
    $c =~ s/SECRETS_DIR/$dir\/secrets/g;
    return $c;
}

for my $f ('conf/nginx.conf', 'conf/multi-tenant.conf') {
    my ($rc, $out) = nginx_test("$dir/t", example($f, free_port()));
    is($rc, 0, "nginx -t accepts $f") or diag $out;
}

# two tenants in one running nginx (2 workers)
{
    my $port = free_port();
    my $conf = example('conf/multi-tenant.conf', $port);
    $conf =~ s/error_log stderr notice;/error_log $dir\/run\/logs\/error.log info;/;
    start_nginx("$dir/run", $conf, $port);

    my ($s1, $a) = http_json(GET => "http://127.0.0.1:$port/xrpc/com.atproto.server.describeServer",
                             undef, { Host => 'alice-pds.example.com' });
    my ($s2, $b) = http_json(GET => "http://127.0.0.1:$port/xrpc/com.atproto.server.describeServer",
                             undef, { Host => 'social.example.org' });
    is($s1, 200, 'tenant 1 answers');
    is($s2, 200, 'tenant 2 answers');
    is($a->{did}, 'did:web:alice-pds.example.com', 'tenant 1 has its DID');
    is($b->{did}, 'did:web:social.example.org', 'tenant 2 has its DID');
    is_deeply($a->{availableUserDomains}, ['.alice-pds.example.com'],
              'tenant 1 domains');
    is_deeply($b->{availableUserDomains}, ['.social.example.org', '.example.org'],
              'tenant 2 domains');
    ok($a->{inviteCodeRequired}, 'tenant 1 requires invites (default)');
    ok(!$b->{inviteCodeRequired}, 'tenant 2 does not');

    for my $t ('alice', 'social') {
        ok(-f "$dir/data/$t/lmdb/data.mdb", "tenant $t has its own LMDB environment");
    }

    my ($s3, $h) = http_json(GET => "http://127.0.0.1:$port/xrpc/_health",
                             undef, { Host => 'social.example.org' });
    is($s3, 200, '_health of tenant 2');
    like($h->{version}, qr/^\d+\.\d+\.\d+/, '... with a version');

    stop_all();
    is_deeply([log_problems("$dir/run/logs/error.log")], [],
              'no alerts or crashes in the error log');
}

# the single-tenant example, run with its per-address limit lowered to a
# burst of 2: the request over it answers nginx's 429 as an XRPC error
# that a browser client can read
{
    my $port = free_port();
    my $conf = example('conf/nginx.conf', $port);
    like($conf, qr/^\s*limit_req zone=pds_per_address burst=3000 nodelay;/m,
         'conf/nginx.conf limits each address as the reference (3000 per 5 minutes)');
    $conf =~ s/burst=3000/burst=2/;
    $conf =~ s/rate=10r\/s/rate=1r\/m/;
    $conf =~ s/error_log stderr notice;/error_log $dir\/one\/logs\/error.log info;/;
    start_nginx("$dir/one", $conf, $port);
    my @st;
    my ($s, $b, $res);
    for (1 .. 4) {
        ($s, $b, $res) = http_json(GET => "http://127.0.0.1:$port/xrpc/_health", undef,
                                   { Host => 'pds.example.com' });
        push @st, $s;
    }
    is_deeply(\@st, [200, 200, 200, 429], 'three requests pass, the fourth gets 429');
    is_deeply($b, { error => 'RateLimitExceeded', message => 'Rate Limit Exceeded' },
              '... as an XRPC error');
    is($res->{headers}{'access-control-allow-origin'}, '*', '... readable cross-origin');
    stop_all();
    is_deeply([log_problems("$dir/one/logs/error.log")], [], 'no alerts or crashes');
}

done_testing();
