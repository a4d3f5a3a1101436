# @atproto/api and @atproto/identity (npm) against our PDS and a real local
# PLC directory: login, app passwords, resume, refresh, describeRepo,
# resolveHandle, DID resolution (t/js/accounts_agent.mjs).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PDSTest qw(need_node start_pds stop_all log_problems node_tap);

need_node('@atproto/api', '@atproto/identity');

my $pds = start_pds() or plan skip_all => 'no PLC directory';
node_tap('accounts_agent.mjs', PDS_URL => $pds->{url}, PLC_URL => $pds->{plc},
         PDS_ADMIN => $pds->{admin});

stop_all();
is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes');
done_testing();
