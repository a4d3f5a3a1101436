# Errors nginx itself raises in a PDS location answer as XRPC errors, JSON
# a client (and a browser, through CORS) can read, never nginx's HTML pages:
# a body declared over nginx's limit (413 PayloadTooLarge, before any of it
# is read), a chunked body that grows over it, a broken chunked body (400
# InvalidRequest).  The PDS's own checks answer as before.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::INET;
use PDSTest qw(start_pds http_json stop_all log_problems create_account json);

my $pds = start_pds() or plan skip_all => 'no PLC directory (npm packages missing)';
my $port = $pds->{port};
my $acct = create_account($pds, handle => 'nina.test') or BAIL_OUT('no account');

# one raw request; returns (status, headers hash, body)
sub raw {
    my ($head, @parts) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 30)
        or die "connect: $!";
    binmode $s;
    local $SIG{PIPE} = 'IGNORE';
    print $s $head;
    for my $p (@parts) { last unless print $s $p }
    local $/;
    my $resp = <$s> // '';
    close $s;
    my ($h, $body) = split /\r\n\r\n/, $resp, 2;
    my ($status) = ($h // '') =~ m{^HTTP/\S+ (\d+)};
    my %hh;
    for (split /\r\n/, $h // '') { $hh{lc $1} = $2 if /^([^:]+):\s*(.*)$/ }
    if (($hh{'transfer-encoding'} // '') =~ /chunked/ && defined $body) {
        my $out = '';
        while ($body =~ s/^([0-9a-fA-F]+)\r\n//) { my $n = hex $1; last unless $n; $out .= substr($body, 0, $n, ''); $body =~ s/^\r\n// }
        $body = $out;
    }
    return ($status // 0, \%hh, $body // '');
}

sub is_xrpc_error {
    my ($got, $status, $name, $what) = @_;
    my ($st, $h, $body) = @$got;
    is($st, $status, "$what: $status");
    like($h->{'content-type'} // '', qr{^application/json}, '... JSON, not an HTML page');
    my $b = eval { json()->decode($body) } // {};
    is($b->{error}, $name, "... $name");
    ok(defined $b->{message} && length $b->{message}, '... with a message');
    is($h->{'access-control-allow-origin'}, '*', '... readable cross-origin');
}

my $auth = "Authorization: Bearer $acct->{accessJwt}\r\n";
my $six_mb = 6 * 1024 * 1024;

# a declared body over nginx's limit: refused before it is read
is_xrpc_error([ raw("POST /xrpc/com.atproto.repo.uploadBlob HTTP/1.1\r\nHost: localhost\r\n"
                    . "Connection: close\r\nContent-Type: image/png\r\n$auth"
                    . "Content-Length: $six_mb\r\n\r\n", 'x' x 65536) ],
              413, 'PayloadTooLarge', 'uploadBlob declaring 6 MB (limit 5 MB)');

# a chunked body that grows over the limit while it is read
{
    my $chunk = 'y' x (1024 * 1024);
    my $c = sprintf("%x\r\n%s\r\n", length $chunk, $chunk);
    is_xrpc_error([ raw("POST /xrpc/com.atproto.repo.uploadBlob HTTP/1.1\r\nHost: localhost\r\n"
                        . "Connection: close\r\nContent-Type: image/png\r\n$auth"
                        . "Transfer-Encoding: chunked\r\n\r\n", ($c) x 7, "0\r\n\r\n") ],
                  413, 'PayloadTooLarge', 'a chunked uploadBlob of 7 MB');
}

# a broken chunked body
is_xrpc_error([ raw("POST /xrpc/com.atproto.repo.createRecord HTTP/1.1\r\nHost: localhost\r\n"
                    . "Connection: close\r\nContent-Type: application/json\r\n$auth"
                    . "Transfer-Encoding: chunked\r\n\r\n", "zz\r\n{}\r\n0\r\n\r\n") ],
              400, 'InvalidRequest', 'a broken chunked body');

# the PDS's own limits and answers are unchanged
{
    my ($st, $b) = http_json(POST => "$pds->{url}/xrpc/com.atproto.repo.uploadBlob", 'z' x 1000,
                             { Authorization => "Bearer $acct->{accessJwt}",
                               'Content-Type' => 'text/plain' });
    is($st, 200, 'a small uploadBlob still works');
    my ($s2, $b2) = http_json(GET => "$pds->{url}/xrpc/com.atproto.repo.getRecord?repo=x");
    is_deeply([$s2, ref $b2 ? $b2->{error} : $b2], [400, 'InvalidRequest'], 'the PDS\'s own 400s are unchanged');
    my ($s3, $b3) = http_json(GET => "$pds->{url}/_pds_error");
    is($s3, 404, 'the error location is not reachable from outside');
}

is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes in the error log');
stop_all();
done_testing();
