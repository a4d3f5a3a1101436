# The SSRF rules for names: a real DNS server (dnsmasq, t/lib/PDSDns.pm)
# on loopback answers evil.test -> 127.0.0.1, private.test -> 10.0.0.1 and
# evil6.test -> ::1, and the tenant's "resolver" points at it (so outbound
# names go to nginx's resolver, ngx_pds_resolve.c).  With the protection
# on, none of these names is connected to:
#
# - com.atproto.identity.resolveHandle of alice.evil.test, alice.private.test
#   and alice.evil6.test: the HTTPS well-known fetch is refused once the
#   name is resolved (the DNS server was asked; no connection is made; the
#   error log says why), and the answer is the one for a handle that does
#   not resolve: 400 InvalidRequest "Unable to resolve handle";
# - atproto-proxy to did:web:evil.test: refused (400 InvalidRequest "could
#   not resolve proxy did", as for any DID whose document is unreachable);
# - atproto-proxy to a did:plc whose services name https://svc.evil.test,
#   https://svc.private.test and https://svc.evil6.test: 502 UpstreamFailure.
#
# With "pds_disable_ssrf_protection on" the same names are connected to:
# the handle's well-known fetch goes to 127.0.0.1:443 (nothing listens
# there: the fetch fails for a network reason, which the error log shows),
# did:web:evil.test likewise, and the did:plc service at
# http://svc.evil.test:<port> is proxied to the stand-in service found
# through the DNS server (200, its answer).  Names that lead off the machine
# (private.test) are only tried with the protection on.
#
# resolveHandle does not look up DNS TXT records (_atproto.<handle>) today,
# only the HTTPS well-known document.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PDSTest qw(start_pds http_json stop_all log_problems free_port create_account
               slurp scratch_dir);
use PDSDns qw(start_dns stop_dns dnsmasq_bin);

plan skip_all => 'no dnsmasq (Debian package dnsmasq-base)' unless dnsmasq_bin();
-d 't/js/node_modules/@did-plc/server'
    or plan skip_all => 'no PLC directory (npm packages missing)';

my $svc = free_port();

sub mock {
    my ($dir) = @_;
    return <<"CONF";
    log_format svc escape=none '\$host \$request';
    server {
        listen 127.0.0.1:$svc;
        server_name localhost;
        access_log $dir/svc.log svc;
        location /xrpc/ {
            default_type application/json;
            return 200 '{"proxied":"svc.evil.test"}';
        }
    }
CONF
}

# the did:plc's services: name => [endpoint, the host refused]
my %plc_svc = (
    loop    => ["https://svc.evil.test:$svc", 'svc.evil.test'],
    private => ['https://svc.private.test:9', 'svc.private.test'],
    loop6   => ["https://svc.evil6.test:$svc", 'svc.evil6.test'],
    plain   => ["http://svc.evil.test:$svc", undef],
);

sub register_plc {
    my ($pds) = @_;
    local $ENV{PLC_URL} = $pds->{plc};
    local $ENV{SERVICES} = PDSTest::json()->encode(
        { map { $_ => $plc_svc{$_}[0] } keys %plc_svc });
    my $out = `node t/js/plc_register.mjs 2>&1`;
    chomp $out;
    return $out =~ /^(did:plc:[a-z2-7]{24})$/ ? $1 : do { diag($out); undef };
}

sub start {
    my ($dev) = @_;
    my $dir = scratch_dir();
    my $dns = start_dns($dir, address => { 'evil.test' => '127.0.0.1',
                                           'private.test' => '10.0.0.1',
                                           'evil6.test' => '::1' });
    my $pds = start_pds(dir => $dir, http_config => mock($dir), config => <<"CONF")
        resolver 127.0.0.1:$dns->{port};
        resolver_timeout 3s;
        pds_handle_domains .pds.test;
        @{[ $dev ? 'pds_disable_ssrf_protection on;' : '' ]}
CONF
        or return;
    my $acct = create_account($pds, handle => ($dev ? 'dev' : 'prod') . '.pds.test');
    return ($pds, $acct, $dns, $dir);
}

sub resolve_handle {
    my ($pds, $handle) = @_;
    return http_json(GET => "$pds->{url}/xrpc/com.atproto.identity.resolveHandle?handle=$handle");
}

sub proxied {
    my ($pds, $acct, $target) = @_;
    return http_json(GET => "$pds->{url}/xrpc/app.example.getThing", undef,
                     { Authorization => "Bearer $acct->{accessJwt}",
                       'atproto-proxy' => $target });
}

sub unresolvable {
    my ($s, $b, $what) = @_;
    is($s, 400, "$what: 400");
    is_deeply($b, { error => 'InvalidRequest', message => 'Unable to resolve handle' },
              '... InvalidRequest "Unable to resolve handle" (the reference\'s answer for a handle that does not resolve)');
}

# ---- protection on ----------------------------------------------------------

my ($pds, $acct, $dns, $dir) = start(0);
ok($acct, 'an account');

for my $case (['alice.evil.test', '127.0.0.1'], ['alice.private.test', '10.0.0.1'],
              ['alice.evil6.test', '::1'])
{
    my ($handle, $addr) = @$case;
    my ($s, $b) = resolve_handle($pds, $handle);
    unresolvable($s, $b, "resolveHandle $handle ($addr)");
    like(slurp($dns->{log}), qr/config \Q$handle\E is \Q$addr\E/,
         "... the DNS server was asked and answered $addr");
    my $log = slurp($pds->{log});
    like($log, qr/"\Q$handle\E" resolves only to addresses that are not public: refused/,
         '... the error log says why');
    like($log, qr{outbound "https://\Q$handle\E/\.well-known/atproto-did": \Q$handle\E resolves to a non-unicast address},
         '... the well-known fetch was not made');
}
unlike(slurp($pds->{log}), qr/connect\(\) (to \S+ )?failed|upstream: "https?:/,
       'no outbound connection was attempted');

my ($s, $b) = proxied($pds, $acct, 'did:web:evil.test#svc');
is($s, 400, 'atproto-proxy did:web:evil.test: refused');
is_deeply($b, { error => 'InvalidRequest', message => 'could not resolve proxy did' },
          '... InvalidRequest "could not resolve proxy did"');
like(slurp($pds->{log}), qr/"evil\.test" resolves only to addresses that are not public: refused/,
     '... the error log says why');

my $plc = register_plc($pds);
ok($plc, "a did:plc whose services are named by the DNS server ($plc)");
for my $id (sort keys %plc_svc) {
    my ($endpoint, $host) = @{ $plc_svc{$id} };
    ($s, $b) = proxied($pds, $acct, "$plc#$id");
    is($s, 502, "did:plc service '$id' at $endpoint: refused");
    my $why = defined $host ? qr/^\Q$host\E resolves to a non-unicast address$/
                            : qr/^Forbidden protocol "http:"$/;
    ok(ref $b eq 'HASH' && ($b->{error} // '') eq 'UpstreamFailure' && ($b->{message} // '') =~ $why,
       '... UpstreamFailure: ' . (ref $b ? ($b->{message} // '') : $b));
    like(slurp($pds->{log}), qr/"\Q$host\E" resolves only to addresses that are not public: refused/,
         '... the error log says why') if defined $host;
}
unlike(slurp($pds->{log}), qr/connect\(\) (to \S+ )?failed|upstream: "https?:/,
       'still no outbound connection attempted');
is(slurp("$dir/svc.log"), '', 'nothing reached the service');
stop_all();
stop_dns($dns);
is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes');

# ---- pds_disable_ssrf_protection on ----------------------------------------

($pds, $acct, $dns, $dir) = start(1);
ok($acct, 'an account (protection off)');

($s, $b) = resolve_handle($pds, 'alice.evil.test');
unresolvable($s, $b, 'resolveHandle alice.evil.test with the protection off');
my $log = slurp($pds->{log});
# (nothing listens on 443 here: "connect() failed (111: Connection
# refused)"; whatever the failure, nginx's proxy logs it with the upstream)
like($log, qr{\[error\] .* while (connecting to|SSL handshaking to|reading response header from) upstream.*upstream: "https://127\.0\.0\.1:443/\.well-known/atproto-did"},
     '... the well-known fetch went to 127.0.0.1:443 and failed there for a network reason');
unlike($log, qr/not public: refused/, '... not refused by the SSRF rules');

($s, $b) = resolve_handle($pds, 'alice.evil6.test');
unresolvable($s, $b, 'resolveHandle alice.evil6.test with the protection off');
like(slurp($pds->{log}), qr{\[error\] .* upstream.*upstream: "https://\[::1\]:443/\.well-known/atproto-did"},
     '... the fetch went to [::1]:443');

($s, $b) = proxied($pds, $acct, 'did:web:evil.test#svc');
is($s, 400, 'atproto-proxy did:web:evil.test with the protection off: the document is unreachable');
like(slurp($pds->{log}), qr{\[error\] .* upstream.*upstream: "https://127\.0\.0\.1:443/\.well-known/did\.json"},
     '... after a connection to 127.0.0.1:443 was attempted');

$plc = register_plc($pds);
ok($plc, "a did:plc ($plc)");
($s, $b) = proxied($pds, $acct, "$plc#plain");
is($s, 200, "did:plc service at http://svc.evil.test:$svc: proxied");
is_deeply($b, { proxied => 'svc.evil.test' }, '... to the service the DNS server named');
like(slurp("$dir/svc.log"), qr{^svc\.evil\.test GET /xrpc/app\.example\.getThing}m,
     '... which saw the request, with Host svc.evil.test');
like(slurp($dns->{log}), qr/config svc\.evil\.test is 127\.0\.0\.1/,
     '... svc.evil.test was resolved by the DNS server');
unlike(slurp($pds->{log}), qr/not public: refused/, 'nothing refused by the SSRF rules');
stop_all();
stop_dns($dns);
is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes');

done_testing();
