# Relay notification: with "pds_crawlers" the first events send
# com.atproto.sync.requestCrawl {hostname} to every relay through nginx,
# then no more for 20 minutes; an unreachable relay is logged, not fatal.
# (The sync reads, verified with @atproto/repo, are
# t/interop/20-sync-verify.t.)
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::INET;
use Time::HiRes qw(sleep time);
use PDSTest qw(start_pds stop_all log_problems slurp http_json free_port
               create_account);

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

my $pds = start_pds(config => <<"CONF")
        pds_crawlers http://127.0.0.1:$relay_port/ http://127.0.0.1:$dead_port;
CONF
    or plan skip_all => 'no PLC directory';

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
