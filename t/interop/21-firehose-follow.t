# subscribeRepos served by the module itself, followed by real consumers:
# @atproto/sync's Firehose with verification on plus raw clients, while
# accounts, handle changes and record writes happen; reconnection with a
# cursor (t/js/firehose_follow.mjs).  Then the cursor rules with a short
# backfill window (t/js/firehose_cursor.mjs).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PDSTest qw(need_node start_pds stop_all log_problems node_tap slurp);

need_node('@atproto/sync');

my $pds = start_pds() or plan skip_all => 'no PLC directory';
node_tap('firehose_follow.mjs', PDS_URL => $pds->{url}, PLC_URL => $pds->{plc},
         PDS_ADMIN => $pds->{admin});
like(slurp($pds->{log}), qr/pds: firehose subscriber from seq 1 /,
     'subscribers are logged with their start');
stop_all();
is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes');

# the reference's backfill window is a day: three seconds here
my $short = start_pds(config => <<'CONF')
        pds_firehose_backfill 3s;
CONF
    or plan skip_all => 'no PLC directory';
node_tap('firehose_cursor.mjs', PDS_URL => $short->{url}, PDS_ADMIN => $short->{admin});
stop_all();
is_deeply([log_problems($short->{log})], [], 'no alerts or crashes');

done_testing();
