# Outbound calls to targets a user chose obey the SSRF rules: an
# atproto-proxy header naming a did:web whose document sits on a loopback
# address over plain http is refused (the document is never fetched, nothing
# reaches the service), and so is a DID document whose service endpoint is
# loopback; "pds_disable_ssrf_protection on" (the reference's
# PDS_DISABLE_SSRF_PROTECTION, for development) lets both through.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PDSTest qw(start_pds http_json stop_all log_problems free_port create_account slurp);

my $svc = free_port();
my $did = "did:web:localhost%3A$svc";

# a did:web document and the service it names, on loopback
my $mock = <<"CONF";
    server {
        listen 127.0.0.1:$svc;
        server_name localhost;
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

sub run_case {
    my ($dev) = @_;
    my $pds = start_pds(http_config => $mock,
                        config => ($dev ? "pds_disable_ssrf_protection on;" : ''))
        or return;
    my $acct = create_account($pds, handle => ($dev ? 'dev' : 'prod') . '.test')
        or return;
    my ($s, $b) = http_json(GET => "$pds->{url}/xrpc/app.example.getThing",
                            undef, { Authorization => "Bearer $acct->{accessJwt}",
                                     'atproto-proxy' => "$did#svc" });
    return ($pds, $s, $b);
}

my ($pds, $s, $b) = run_case(0);
plan skip_all => 'no PLC directory (npm packages missing)' unless $pds;
isnt($s, 200, "did:web on loopback over http: refused ($s)");
ok(ref $b eq 'HASH' && $b->{error}, '... with an XRPC error: ' . (ref $b ? "$b->{error}: $b->{message}" : ''));
ok(!(ref $b eq 'HASH' && $b->{proxied}), '... and nothing reached the service');
like(slurp($pds->{log}), qr/not a public|non-unicast|Forbidden protocol/,
     '... the error log says why');
stop_all();

($pds, $s, $b) = run_case(1);
is($s, 200, 'with pds_disable_ssrf_protection on: proxied');
is_deeply($b, { proxied => JSON::PP::true() }, '... the service answered');
stop_all();

is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes');
done_testing();
