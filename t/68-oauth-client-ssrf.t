# OAuth client metadata is fetched with the SSRF rules: a client_id whose
# name resolves to loopback (app.evil.test -> 127.0.0.1) or a private
# address (app.private.test -> 10.0.0.1), through a real DNS server
# (dnsmasq, t/lib/PDSDns.pm) the tenant's "resolver" points at, is never
# connected to; PAR answers 400 invalid_client_metadata and the error log
# says why.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PDSTest qw(start_pds http_json stop_all log_problems slurp scratch_dir);
use PDSDns qw(start_dns stop_dns dnsmasq_bin);

plan skip_all => 'no dnsmasq (Debian package dnsmasq-base)' unless dnsmasq_bin();
-d 't/js/node_modules/@did-plc/server'
    or plan skip_all => 'no PLC directory (npm packages missing)';

my $dir = scratch_dir();
my $dns = start_dns($dir, address => { 'evil.test' => '127.0.0.1',
                                       'private.test' => '10.0.0.1' });
my $pds = start_pds(dir => $dir, config => <<"CONF") or plan skip_all => 'no PDS';
        resolver 127.0.0.1:$dns->{port};
        resolver_timeout 3s;
CONF

sub esc { my $v = shift // ''; $v =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge; $v }

for my $case (['app.evil.test', '127.0.0.1'], ['app.private.test', '10.0.0.1']) {
    my ($host, $addr) = @$case;
    my $cid = "https://$host/client-metadata.json";
    my $body = join '&', map { "$_->[0]=" . esc($_->[1]) }
        [client_id => $cid], [response_type => 'code'],
        [redirect_uri => "https://$host/cb"], [scope => 'atproto'],
        [code_challenge => 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'],
        [code_challenge_method => 'S256'];
    my ($s, $b) = http_json(POST => "$pds->{url}/oauth/par", $body,
                            { 'Content-Type' => 'application/x-www-form-urlencoded' });
    is($s, 400, "PAR for $cid ($addr): 400");
    is($b->{error}, 'invalid_client_metadata', '... invalid_client_metadata');
    like(slurp($dns->{log}), qr/config \Q$host\E is \Q$addr\E/,
         '... the DNS server was asked');
    like(slurp($pds->{log}), qr/"\Q$host\E" resolves only to addresses that are not public: refused/,
         '... refused for its address (the error log says why)');
}
unlike(slurp($pds->{log}), qr/connect\(\) (to \S+ )?failed|upstream: "https?:/,
       'no connection was attempted');

stop_all();
stop_dns($dns);
is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes in the error log');
done_testing();
