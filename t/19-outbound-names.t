# Outbound calls to services named by a host name that only /etc/hosts
# knows, as the reference requires them (PDS_DID_PLC_URL=http://localhost:
# PORT): createAccount registers its did:plc at http://localhost:<port>,
# with no "resolver" in the configuration; a name nobody knows answers
# UpstreamFailure, not a hang or a 500.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PDSTest qw(start_pds start_plc scratch_dir http_json stop_all log_problems basic_auth);

my $dir = scratch_dir();
my $plc = start_plc($dir) or plan skip_all => 'no PLC directory (npm packages missing)';
(my $named = $plc) =~ s{//127\.0\.0\.1:}{//localhost:};
isnt($named, $plc, "PLC directory by name: $named");

my $pds = start_pds(dir => $dir, plc => $named);
my $u = $pds->{url};

my ($s, $b) = http_json(POST => "$u/xrpc/com.atproto.server.createInviteCode",
                        { useCount => 2 }, { Authorization => basic_auth('admin', $pds->{admin}) });
is($s, 200, 'invite code');
my $code = $b->{code};

($s, $b) = http_json(POST => "$u/xrpc/com.atproto.server.createAccount",
                     { handle => 'names.test', email => 'names@example.com',
                       password => 'names-password', inviteCode => $code });
is($s, 200, 'createAccount registers the DID at the PLC directory named "localhost"')
    or diag explain $b;
like($b->{did} // '', qr/^did:plc:[a-z2-7]{24}$/, '... a did:plc');

($s, $b) = http_json(GET => "$named/$b->{did}");
is($s, 200, '... which the PLC directory knows');

stop_all();

# a PLC directory whose name does not resolve
my $dir2 = scratch_dir();
my $pds2 = start_pds(dir => $dir2, plc => 'http://no-such-host.invalid:2582');
($s, $b) = http_json(POST => "$pds2->{url}/xrpc/com.atproto.server.createInviteCode",
                     { useCount => 1 }, { Authorization => basic_auth('admin', $pds2->{admin}) });
($s, $b) = http_json(POST => "$pds2->{url}/xrpc/com.atproto.server.createAccount",
                     { handle => 'nohost.test', email => 'nohost@example.com',
                       password => 'nohost-password', inviteCode => $b->{code} });
is($s, 502, 'an unknown PLC host: 502');
is($b->{error}, 'UpstreamFailure', '... UpstreamFailure');
like($b->{message} // '', qr/resolved|PLC/, "... says why ($b->{message})");

stop_all();
is_deeply([log_problems($pds->{log}), log_problems($pds2->{log})], [], 'no alerts or crashes');
done_testing();
