# Relay notification: with "pds_crawlers" the first events send
# com.atproto.sync.requestCrawl {hostname} to every relay through nginx,
# then no more for 20 minutes; an unreachable relay is logged, not fatal.
# (The sync reads, verified with @atproto/repo, are
# t/interop/20-sync-verify.t.)
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use PDSTest qw(start_pds stop_all log_problems slurp http_json free_port
               create_account);

# the relay: a server block of the PDS's own nginx that logs each request
# (request line, then the body: proxy_pass reads it) and answers {}
my $relay_port = free_port();
my $dead_port = free_port();
my $pds = start_pds(config => <<"CONF", http_config => <<"HTTP")
        pds_crawlers http://127.0.0.1:$relay_port/ http://127.0.0.1:$dead_port;
CONF
    log_format relay escape=none '\$request \$request_body';
    server {
        listen 127.0.0.1:$relay_port;
        default_type application/json;
        location / {
            access_log logs/relay.log relay;
            proxy_pass http://127.0.0.1:$relay_port/_answer/;
        }
        location /_answer/ {
            return 200 '{}';
        }
    }
HTTP
    or plan skip_all => 'no PLC directory';

my $seen = "$pds->{dir}/logs/relay.log";
is(slurp($seen), '', 'no requestCrawl before any event');

# many events: an account (#identity, #account, #commit), then posts
my $acct = create_account($pds, handle => 'relay.test') or die 'no account';
my $n = 0;
sub posts {
    for (1 .. shift) {
        my ($s, $b) = http_json(POST => "$pds->{url}/xrpc/com.atproto.repo.createRecord",
                                { repo => $acct->{did}, collection => 'app.bsky.feed.post',
                                  record => { text => 'event ' . ++$n,
                                              createdAt => '2026-11-24T00:00:00.000Z' } },
                                { Authorization => "Bearer $acct->{accessJwt}" });
        die "createRecord: $s" unless $s == 200;
    }
}
posts(20);

my $t0 = time;
sleep 0.1 while slurp($seen) eq '' && time - $t0 < 10;
posts(20);          # more events after the first call: still one
sleep 0.5;
my @calls = split /\n/, slurp($seen);
is(scalar @calls, 1, 'the relay was asked to crawl once (many events, one per 20 minutes)');
like($calls[0] // '', qr{^POST /xrpc/com\.atproto\.sync\.requestCrawl HTTP/1\.[01] \{"hostname":"localhost"\}$},
     '... POST com.atproto.sync.requestCrawl {"hostname": <pds_hostname>}');

# the unreachable one: a warning, and nothing else broke
$t0 = time;
sleep 0.1 while slurp($pds->{log}) !~ /requestCrawl at "http:\/\/127\.0\.0\.1:$dead_port" failed/
                && time - $t0 < 10;
like(slurp($pds->{log}), qr/\[warn\].*requestCrawl at "http:\/\/127\.0\.0\.1:$dead_port" failed/,
     'an unreachable relay is logged as a warning');
my ($s) = http_json(GET => "$pds->{url}/xrpc/_health");
is($s, 200, 'the PDS is fine');

stop_all();
is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes');
done_testing();
