# Configuration: the example configs pass nginx -t; missing or wrong
# settings fail it with a message naming the directive; two tenants in one
# nginx get separate LMDB environments and answer with their own identity.
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
write_file("$dir/secrets/empty", "\n");

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

my $base = <<"EOF";
load_module $module;
events { }
http {
    server {
        listen 127.0.0.1:1;
        pds_hostname pds.example.com;
        %s
        location / { pds; }
    }
}
EOF

my %good = (
    pds_data_dir => "pds_data_dir $dir/data-x;",
    pds_admin_password => 'pds_admin_password x;',
    pds_jwt_secret => 'pds_jwt_secret y;',
    pds_plc_rotation_key => 'pds_plc_rotation_key ' . ('cd' x 32) . ';',
);

for my $missing (sort keys %good) {
    my $body = join "\n", map { $good{$_} } grep { $_ ne $missing } sort keys %good;
    my ($rc, $out) = nginx_test("$dir/t", sprintf($base, $body));
    isnt($rc, 0, "nginx -t fails without $missing");
    like($out, qr/"\Q$missing\E" is required/, "... and names $missing");
}

my @bad = (
    [ 'a short rotation key', 'pds_plc_rotation_key abc;',
      qr/pds_plc_rotation_key" must be 64 hex digits/ ],
    [ 'a handle domain without a dot', 'pds_handle_domains example.com;',
      qr/pds_handle_domains.*must start with a dot/ ],
    [ 'an empty secret file', "pds_jwt_secret_file $dir/secrets/empty;",
      qr/secret file .* is empty/ ],
    [ 'a missing secret file', "pds_jwt_secret_file $dir/secrets/nope;",
      qr/secrets\/nope" failed/ ],
    [ 'an unknown directive', 'pds_nonsense on;',
      qr/unknown directive "pds_nonsense"/ ],
);

for my $case (@bad) {
    my ($name, $line, $re) = @$case;
    my %conf = %good;
    my ($key) = $line =~ /^(\S+?)(?:_file)?\s/;
    delete $conf{$key};
    my $body = join "\n", (map { $conf{$_} } sort keys %conf), $line;
    my ($rc, $out) = nginx_test("$dir/t", sprintf($base, $body));
    isnt($rc, 0, "nginx -t fails with $name");
    like($out, $re, "... with a clear message") or diag $out;
}

# one data directory for two tenants is refused
{
    my $two = <<"EOF";
load_module $module;
events { }
http {
    server {
        listen 127.0.0.1:1;
        pds_hostname a.example.com;
        $good{pds_data_dir} $good{pds_admin_password} $good{pds_jwt_secret}
        $good{pds_plc_rotation_key}
        location / { pds; }
    }
    server {
        listen 127.0.0.1:1;
        pds_hostname b.example.com;
        $good{pds_data_dir} $good{pds_admin_password} $good{pds_jwt_secret}
        $good{pds_plc_rotation_key}
        location / { pds; }
    }
}
EOF
    my ($rc, $out) = nginx_test("$dir/t", $two);
    isnt($rc, 0, 'two tenants cannot share a data directory');
    like($out, qr/already used by another server block/, '... and says so');
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

done_testing();
