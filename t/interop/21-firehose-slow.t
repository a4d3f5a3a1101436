# subscribeRepos with a consumer that never reads: it is dropped with a
# ConsumerTooSlow error frame (server: pds_firehose_max_lag 5) while two
# consumers that read get every event (t/js/firehose_slow.mjs).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::INET;
use Socket qw(SOL_SOCKET SO_RCVBUF inet_aton pack_sockaddr_in);
use Time::HiRes qw(sleep time);
use PDSTest qw(need_node start_pds stop_all log_problems create_account json slurp);

need_node('@atproto/repo');

my $pds = start_pds(config => <<'CONF')
        pds_firehose_max_lag 5;
CONF
    or plan skip_all => 'no PLC directory';
my $u = $pds->{url};

my $acc = create_account($pds, handle => 'bulk.test');
ok($acc, 'an account (seq 1..4)');

# the slow consumer: a 4 KB receive buffer, set before connecting
my $sock = IO::Socket::INET->new(Proto => 'tcp') or die "socket: $!";
setsockopt($sock, SOL_SOCKET, SO_RCVBUF, 4096) or die "SO_RCVBUF: $!";
connect($sock, pack_sockaddr_in($pds->{port}, inet_aton('127.0.0.1'))) or die "connect: $!";
binmode $sock;
print $sock "GET /xrpc/com.atproto.sync.subscribeRepos HTTP/1.1\r\n"
          . "Host: 127.0.0.1:$pds->{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          . "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
my $head = '';
while ($head !~ /\r\n\r\n/) {
    sysread($sock, $head, 1, length $head) or last;
}
like($head, qr{^HTTP/1\.1 101 Switching Protocols\r\n}, 'the slow consumer: 101 Switching Protocols');
like($head, qr{\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n}, '... the RFC 6455 accept key');
like($head, qr{\r\nUpgrade: websocket\r\n}i, '... Upgrade: websocket');

# the readers and the writes run in the background (t/js/firehose_slow.mjs)
my $out = "$pds->{dir}/node.out";
my $pid = fork() // die "fork: $!";
if ($pid == 0) {
    $ENV{PDS_URL} = $u;
    $ENV{ACCOUNT} = json()->encode($acc);
    open STDOUT, '>', $out;
    open STDERR, '>&', \*STDOUT;
    exec 'node', 't/js/firehose_slow.mjs';
    exit 127;
}

# the moment the server gives up on us
my $t0 = time;
my $dropped = 0;
while (time - $t0 < 60) {
    if (slurp($pds->{log}) =~ /firehose consumer too slow/) { $dropped = 1; last }
    last if waitpid($pid, 1) > 0;
    sleep 0.05;
}
ok($dropped, 'the server dropped the slow consumer');

# now read everything it was sent, until the server closes
my $data = '';
$sock->blocking(1);
my $t1 = time;
while (time - $t1 < 20) {
    my $n = sysread($sock, $data, 65536, length $data);
    last unless $n;
}
close $sock;

my (@seqs, @frames);
my $p = 0;
while ($p + 2 <= length $data) {
    my ($b0, $b1) = unpack 'CC', substr($data, $p, 2);
    my $len = $b1 & 0x7f;
    my $h = 2;
    if ($len == 126) { $len = unpack 'n', substr($data, $p + 2, 2); $h = 4 }
    elsif ($len == 127) { my ($hi, $lo) = unpack 'NN', substr($data, $p + 2, 8); $len = $hi * 2**32 + $lo; $h = 10 }
    last if $p + $h + $len > length $data;
    push @frames, { op => $b0 & 0x0f, payload => substr($data, $p + $h, $len) };
    $p += $h + $len;
}
is($p, length $data, 'the stream it got is made of whole frames');

for my $f (grep { $_->{op} == 2 } @frames) {
    next unless $f->{payload} =~ /^\xa2at\x67#commit\x62op\x01/;
    if ($f->{payload} =~ /\x63seq(?:([\x00-\x17])|\x18(.)|\x19(..))/s) {
        push @seqs, defined $1 ? ord $1 : defined $2 ? ord $2 : unpack('n', $3);
    }
}
my @bin = grep { $_->{op} == 2 } @frames;
ok(@seqs > 0 && @seqs < 40, scalar(@seqs) . ' #commit events arrived before the drop');
is_deeply(\@seqs, [5 .. 4 + @seqs], '... a gapless prefix from seq 5');
my $err = $bin[-1]{payload} // '';
like($err, qr/^\xa1\x62op\x20/, 'then an error frame {op: -1}');
like($err, qr/\x65error\x6fConsumerTooSlow/, '... error ConsumerTooSlow');
is($frames[-1]{op}, 8, 'then a close frame');
is(unpack('n', $frames[-1]{payload} // "\0\0"), 1008, '... status 1008');

waitpid($pid, 0);
my $n = 0;
for my $line (split /\n/, slurp($out)) {
    if ($line =~ /^(not )?ok \d+ - (.*)$/) { ok(!$1, "node: $2"); $n++ }
    elsif ($line =~ /^#/) { diag($line) }
}
ok($? == 0 && $n > 0, "node firehose_slow.mjs ran $n checks");

stop_all();
is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes');
done_testing();
