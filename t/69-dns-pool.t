# Handle lookups that hang do not hold up sign-ins and writes: TXT queries
# run in nginx's "default" thread pool, not the tenant's (which does scrypt
# and write transactions), at most 64 at once per worker.
#
# A name server that never answers (a UDP socket nobody reads) is both the
# tenant's "resolver" (so the HTTPS method's host lookups time out in
# nginx's own asynchronous resolver) and its backup name servers (so each
# TXT query holds a thread for its 2 s x 2 tries).  With the tenant's pool
# at 2 threads, a dozen resolveHandle calls for names nobody publishes are
# under way when a createSession (scrypt) comes: it must answer at once,
# not after the lookups.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use PDSTest qw(start_pds http_json stop_all log_problems create_account);

my $silent = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'udp')
    or plan skip_all => "udp socket: $!";
my $sp = $silent->sockport;

my $pds = start_pds(workers => 1, config => <<"CONF") or plan skip_all => 'no PLC directory';
        resolver 127.0.0.1:$sp;
        resolver_timeout 1s;
        pds_handle_backup_nameservers 127.0.0.1:$sp;
        pds_rate_limits off;
CONF
my $acct = create_account($pds, handle => 'quinn.test', password => 'quinn-password');
ok($acct, 'an account') or BAIL_OUT('no account');

# a dozen lookups, sent and left waiting
my @socks;
for my $i (1 .. 12) {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $pds->{port}) or die $!;
    print $s "GET /xrpc/com.atproto.identity.resolveHandle?handle=n$i-$$.nowhere.example HTTP/1.1\r\n"
           . "Host: localhost\r\nConnection: close\r\n\r\n";
    push @socks, $s;
}
sleep 2;    # past the HTTPS method (1 s): the TXT queries to the silent server hold threads

my $t0 = time;
my ($s, $b) = http_json(POST => "$pds->{url}/xrpc/com.atproto.server.createSession",
                        { identifier => 'quinn.test', password => 'quinn-password' });
my $took = time - $t0;
is($s, 200, 'createSession while 12 handle lookups hang');
ok($took < 1.5, sprintf('... answered at once (%.2f s), not after the lookups', $took));

# every lookup ends by itself, as the reference answers a name it cannot resolve
my $deadline = time + 30;
my (@status, @bodies);
for my $sock (@socks) {
    local $/;
    $sock->timeout(30);
    my $raw = <$sock> // '';
    my ($st) = $raw =~ m{^HTTP/\S+ (\d+)};
    push @status, $st // 0;
    push @bodies, $raw;
}
ok(time < $deadline, 'the lookups all ended within 30 s');
is_deeply([ grep { $_ != 400 } @status ], [], 'each: 400') or diag explain \@status;
is(scalar(grep { /"Unable to resolve handle"/ } @bodies), 12, '... "Unable to resolve handle"');

is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes in the error log');
stop_all();
done_testing();
