# com.atproto.sync.* reads verified with @atproto/repo (npm): getRepo,
# `since` diffs, getRecord proofs, getBlocks, listRepos, listBlobs and the
# reference's errors (t/js/sync_verify.mjs).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PDSTest qw(need_node start_pds stop_all log_problems node_tap);

need_node('@atproto/repo');

my $pds = start_pds() or plan skip_all => 'no PLC directory';
node_tap('sync_verify.mjs', PDS_URL => $pds->{url}, PLC_URL => $pds->{plc},
         PDS_ADMIN => $pds->{admin});

stop_all();
is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes');
done_testing();
