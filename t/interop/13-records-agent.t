# Records through @atproto/api (npm) against our PDS: see
# t/js/records_agent.mjs.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PDSTest qw(need_node start_pds stop_all log_problems node_tap);

need_node('@atproto/api');

my $pds = start_pds() or plan skip_all => 'no PLC directory';
node_tap('records_agent.mjs', PDS_URL => $pds->{url}, PDS_ADMIN => $pds->{admin});

stop_all();
is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes');
done_testing();
