# The AppView / service proxy (issue 10): stand-in services on loopback that
# verify our service JWTs with @atproto/xrpc-server, @atproto/api against
# the PDS, preferences, getServiceAuth, streaming (t/js/proxy_appview.mjs).
# The refusals that need no account are data-driven blocks in t/06-proxy.t.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PDSTest qw(need_node start_pds stop_all log_problems node_tap free_port
               nginx_pids);

need_node('@atproto/api', '@atproto/xrpc-server');

my $av_port = free_port();
my $appview_did = 'did:web:appview.test';
# the second service (a did:plc registered here) listens on loopback over
# plain http: allowed only because SSRF protection is off for development
my $pds = start_pds(config => <<"CONF")
        pds_appview_url http://127.0.0.1:$av_port;
        pds_appview_did $appview_did;
        pds_disable_ssrf_protection on;
CONF
    or plan skip_all => 'no PLC directory';

# the worker whose memory the streaming check watches
my ($master, $worker) = nginx_pids($pds);
ok($worker, "the nginx worker (" . ($worker // '?') . ", master " . ($master // '?') . ")");

node_tap('proxy_appview.mjs', PDS_URL => $pds->{url}, PLC_URL => $pds->{plc},
         PDS_ADMIN => $pds->{admin}, APPVIEW_PORT => $av_port,
         APPVIEW_DID => $appview_did, SVC_PORT => free_port(),
         DEAD_PORT => free_port(), WORKER_PID => $worker);

stop_all();
is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes');
done_testing();
