# @atproto/api and @atproto/identity (npm) against our PDS and a real local
# PLC directory: login, app passwords, resume, refresh, describeRepo,
# resolveHandle, DID resolution (t/js/accounts_agent.mjs).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PDSTest qw(start_pds stop_all log_problems node_tap);

plan skip_all => 'no node_modules in t/js' unless -d 't/js/node_modules/@atproto/api';

my $pds = start_pds() or plan skip_all => 'no PLC directory';
node_tap('accounts_agent.mjs', PDS_URL => $pds->{url}, PLC_URL => $pds->{plc},
         PDS_ADMIN => $pds->{admin});

# the handle's well-known document, by Host header as a proxy sends it
my ($s, $b) = PDSTest::http_json(GET => "$pds->{url}/.well-known/atproto-did", undef,
                                 { Host => 'erin.test' });
is($s, 200, '/.well-known/atproto-did for erin.test');
like($b, qr/^did:plc:[a-z2-7]{24}$/, '... is the DID');
($s, $b) = PDSTest::http_json(GET => "$pds->{url}/.well-known/atproto-did", undef,
                              { Host => 'nobody.test' });
is($s, 404, 'unknown handle: 404');
is($b, 'User not found', '... User not found');

stop_all();
is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes');
done_testing();
