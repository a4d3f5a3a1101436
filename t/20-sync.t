# com.atproto.sync.* reads verified with @atproto/repo (t/js/sync_verify.mjs),
# and relay notification: with "pds_crawlers" the first events send
# com.atproto.sync.requestCrawl {hostname} to every relay through nginx,
# then no more for 20 minutes; an unreachable relay is logged, not fatal.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::INET;
use Time::HiRes qw(sleep time);
use PDSTest qw(start_pds stop_all log_problems node_tap slurp http_json
               basic_auth free_port json);

plan skip_all => 'no node_modules in t/js' unless -d 't/js/node_modules/@atproto/repo';

# a fake relay: records each request (request line, then the body)
my $relay = IO::Socket::INET->new(Listen => 16, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, Proto => 'tcp', ReuseAddr => 1)
    or die "listen: $!";
my $relay_port = $relay->sockport;
my $dead_port = free_port();
my $seen = "/tmp/pds-relay-$$.log";
unlink $seen;
my $relay_pid = fork() // die "fork: $!";
if ($relay_pid == 0) {
    while (my $c = $relay->accept) {
        my ($head, $body) = ('', '');
        while ($head !~ /\r\n\r\n/) { sysread($c, $head, 1, length $head) or last }
        my ($len) = $head =~ /\r\nContent-Length:\s*(\d+)/i;
        while (length $body < ($len // 0)) { sysread($c, $body, $len - length $body, length $body) or last }
        my ($line) = split /\r\n/, $head;
        open my $fh, '>>', $seen;
        print $fh "$line $body\n";
        close $fh;
        print $c "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
               . "Connection: close\r\n\r\n{}";
        close $c;
    }
    exit 0;
}
close $relay;
END { local $?; if ($relay_pid) { kill 'TERM', $relay_pid; waitpid $relay_pid, 0; unlink $seen } }

my $pds = start_pds(extra => "pds_crawlers http://127.0.0.1:$relay_port/ "
                           . "http://127.0.0.1:$dead_port;")
    or plan skip_all => 'no PLC directory';

is(slurp($seen), '', 'no requestCrawl before any event');

node_tap('sync_verify.mjs', PDS_URL => $pds->{url}, PLC_URL => $pds->{plc},
         PDS_ADMIN => $pds->{admin});

my $t0 = time;
sleep 0.1 while slurp($seen) eq '' && time - $t0 < 10;
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
