# Outbound calls to targets a user chose obey the SSRF rules, through the
# atproto-proxy header:
#
# - a did:web whose document sits on a loopback address over plain http is
#   refused (the document is never fetched, nothing reaches the service);
# - a did:plc registered at the local PLC directory (the real
#   @did-plc/server, the genesis operation signed with @did-plc/lib by
#   t/js/plc_register.mjs) whose services sit on loopback (IPv4, IPv6,
#   IPv4-mapped, the name localhost), on a private address, on the
#   cloud-metadata link-local address, or over plain http: each refused with an XRPC error, nothing
#   reaches the service, the error log says why;
#
# and "pds_disable_ssrf_protection on" (the reference's
# PDS_DISABLE_SSRF_PROTECTION, for development) lets the loopback ones
# through (200, the service's answer).  The reference answers 502
# UpstreamFailure here too; its message is "Upstream service unreachable",
# ours names the host and the rule.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PDSTest qw(start_pds http_json stop_all log_problems free_port create_account
               slurp scratch_dir);

my $svc = free_port();
my $did = "did:web:localhost%3A$svc";

# a did:web document and the service it names, on loopback; every request
# the service sees is logged
sub mock {
    my ($dir) = @_;
    return <<"CONF";
    log_format svc escape=none '\$request';
    server {
        listen 127.0.0.1:$svc;
        server_name localhost;
        access_log $dir/svc.log svc;
        location = /.well-known/did.json {
            default_type application/json;
            return 200 '{"id":"$did","service":[{"id":"#svc","type":"X","serviceEndpoint":"http://127.0.0.1:$svc"}]}';
        }
        location /xrpc/ {
            default_type application/json;
            return 200 '{"proxied":true}';
        }
    }
CONF
}

# the did:plc's services: name => [endpoint, host as logged]
my %plc_svc = (
    loop     => ["https://127.0.0.1:$svc", '127.0.0.1'],
    loop6    => ["https://[::1]:$svc", '::1'],
    mapped   => ["https://[::ffff:127.0.0.1]:$svc", '::ffff:127.0.0.1'],
    private  => ['https://10.255.255.1:9', '10.255.255.1'],
    private2 => ['https://192.168.77.1', '192.168.77.1'],
    metadata => ['https://169.254.169.254', '169.254.169.254'],
    plain    => ["http://127.0.0.1:$svc", undef],
    # a name, resolved the system's way (no "resolver" here: getaddrinfo in
    # the thread pool, /etc/hosts); names through a DNS server are
    # t/44-ssrf-names.t
    name     => ["https://localhost:$svc", 'localhost'],
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

sub proxied {
    my ($pds, $acct, $target) = @_;
    return http_json(GET => "$pds->{url}/xrpc/app.example.getThing", undef,
                     { Authorization => "Bearer $acct->{accessJwt}",
                       'atproto-proxy' => $target });
}

sub start {
    my ($dev) = @_;
    my $dir = scratch_dir();
    my $pds = start_pds(dir => $dir, http_config => mock($dir),
                        config => ($dev ? "pds_disable_ssrf_protection on;" : ''))
        or return;
    my $acct = create_account($pds, handle => ($dev ? 'dev' : 'prod') . '.test');
    return ($pds, $acct, $dir);
}

# requests the service was sent (its /xrpc/ location; not the did:web document)
sub svc_requests { scalar(() = slurp("$_[0]/svc.log") =~ m{^GET /xrpc/}mg) }

# ---- protection on ----------------------------------------------------------

my ($pds, $acct, $dir) = start(0);
plan skip_all => 'no PLC directory (npm packages missing)' unless $pds;
ok($acct, 'an account');

my ($s, $b) = proxied($pds, $acct, "$did#svc");
isnt($s, 200, "did:web on loopback over http: refused ($s)");
ok(ref $b eq 'HASH' && $b->{error}, '... with an XRPC error: ' . (ref $b ? "$b->{error}: $b->{message}" : ''));
ok(!(ref $b eq 'HASH' && $b->{proxied}), '... and nothing reached the service');
like(slurp($pds->{log}), qr/not a public|non-unicast|Forbidden protocol/,
     '... the error log says why');

my $plc = register_plc($pds);
ok($plc, "a did:plc registered at the local directory with services on loopback and private addresses ($plc)");

for my $id (sort keys %plc_svc) {
    my ($endpoint, $host) = @{ $plc_svc{$id} };
    ($s, $b) = proxied($pds, $acct, "$plc#$id");
    is($s, 502, "did:plc service '$id' at $endpoint: refused");
    my $why = defined $host ? qr/resolves to a non-unicast address/ : qr/^Forbidden protocol "http:"$/;
    ok(ref $b eq 'HASH' && ($b->{error} // '') eq 'UpstreamFailure' && ($b->{message} // '') =~ $why,
       '... UpstreamFailure: ' . (ref $b ? ($b->{message} // '') : $b));
    if (defined $host) {
        like(slurp($pds->{log}),
             qr/"\Q$host\E" resolves only to addresses that are not public: refused/,
             "... the error log says why ($host is not public)");
    }
}
is(slurp("$dir/svc.log"), '', 'nothing reached the service (its log is empty)');
stop_all();
is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes');

# ---- pds_disable_ssrf_protection on ----------------------------------------

($pds, $acct, $dir) = start(1);
ok($acct, 'an account (protection off)');

($s, $b) = proxied($pds, $acct, "$did#svc");
is($s, 200, 'with pds_disable_ssrf_protection on: did:web on loopback proxied');
is_deeply($b, { proxied => JSON::PP::true() }, '... the service answered');

$plc = register_plc($pds);
ok($plc, "a did:plc registered ($plc)");

($s, $b) = proxied($pds, $acct, "$plc#plain");
is($s, 200, "did:plc service on loopback (http://127.0.0.1:$svc): proxied");
is_deeply($b, { proxied => JSON::PP::true() }, '... the service answered');
is(svc_requests($dir), 2, '... two requests reached the service (did:web, did:plc)');
unlike(slurp($pds->{log}), qr/not public: refused/, 'nothing refused by the SSRF rules');
stop_all();
is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes');

done_testing();
