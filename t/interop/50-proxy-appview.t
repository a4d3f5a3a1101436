# The AppView / service proxy (issue 10): stand-in services on loopback that
# verify our service JWTs with @atproto/xrpc-server, @atproto/api against
# the PDS, preferences, getServiceAuth, streaming (t/js/proxy_appview.mjs);
# plus refusals that need no account.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PDSTest qw(start_pds stop_all log_problems node_tap free_port slurp);

plan skip_all => 'no node_modules in t/js' unless -d 't/js/node_modules/@atproto/api';

my $av_port = free_port();
my $appview_did = 'did:web:appview.test';
my $pds = start_pds(extra => "pds_appview_url http://127.0.0.1:$av_port;\n"
                           . "        pds_appview_did $appview_did;")
    or plan skip_all => 'no PLC directory';

# the worker whose memory the streaming check watches
my $master = slurp("$pds->{dir}/nginx.pid");
chomp $master;
my ($worker) = grep { ((slurp("/proc/$_/stat") =~ /^\d+ \(.*?\) \S (\d+)/)[0] // -1) == $master }
               map { m{/proc/(\d+)$} ? $1 : () } glob '/proc/[0-9]*';
ok($worker, "the nginx worker ($worker, master $master)");

node_tap('proxy_appview.mjs', PDS_URL => $pds->{url}, PLC_URL => $pds->{plc},
         PDS_ADMIN => $pds->{admin}, APPVIEW_PORT => $av_port,
         APPVIEW_DID => $appview_did, SVC_PORT => free_port(),
         DEAD_PORT => free_port(), WORKER_PID => $worker);

my ($s, $b);

# no session: the reference's AuthMissing; no credentials leak anywhere
($s, $b) = PDSTest::http_json(GET => "$pds->{url}/xrpc/app.bsky.feed.getTimeline");
is($s, 401, 'proxied method without a session: 401');
is($b->{error}, 'AuthMissing', '... AuthMissing');

# protected methods are never proxied
($s, $b) = PDSTest::http_json(POST => "$pds->{url}/xrpc/com.atproto.admin.sendEmail", {});
is($s, 400, 'protected method: 400');
is($b->{error}, 'InvalidToken', '... InvalidToken');
is($b->{message}, 'Bad token method', '... Bad token method');

# only GET, HEAD and POST
($s, $b) = PDSTest::http_json(PUT => "$pds->{url}/xrpc/app.bsky.feed.getTimeline", '');
is($s, 400, 'PUT: 400');
is($b->{message}, 'XRPC requests only supports GET and POST', '... as the reference');

# not an NSID: still 501
($s, $b) = PDSTest::http_json(GET => "$pds->{url}/xrpc/nonsense");
is($s, 501, 'not an NSID: 501');

# the internal locations cannot be reached from outside
($s) = PDSTest::http_json(GET => "$pds->{url}/_pds_proxy");
isnt($s, 200, '/_pds_proxy is internal');

# a PDS without an AppView: the reference's message
my $bare = start_pds(plc => $pds->{plc});
($s, $b) = PDSTest::http_json(GET => "$bare->{url}/xrpc/app.bsky.feed.getTimeline");
is($s, 400, 'no AppView configured: 400');
is($b->{message}, 'No service configured for app.bsky.feed.getTimeline', '... No service configured for <nsid>');
($s, $b) = PDSTest::http_json(GET => "$bare->{url}/xrpc/tools.ozone.moderation.getRepo?did=x");
is($b->{message}, 'No service configured for tools.ozone.moderation.getRepo', 'no moderation service: 400');

stop_all();
is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes');
is_deeply([log_problems($bare->{log})], [], 'no alerts or crashes (no AppView)');
done_testing();
