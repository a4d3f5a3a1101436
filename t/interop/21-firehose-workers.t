# The firehose with two nginx workers: subscribers attached to different
# workers all get every event, and an nginx reload in the middle of writes
# loses nothing for subscribers that reconnect with their cursor
# (t/js/firehose_workers.mjs).  A second "reuseport" listener spreads the
# subscribers' connections over both workers.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PDSTest qw(need_node start_pds stop_all log_problems node_tap slurp free_port
               wait_port nginx_pids);

need_node('@atproto/repo');

my $sub_port = free_port();
my $pds = start_pds(workers => 2, config => <<"CONF")
        listen 127.0.0.1:$sub_port reuseport;
CONF
    or plan skip_all => 'no PLC directory';
wait_port($sub_port) or die "no listener on $sub_port";
my ($master, @before) = nginx_pids($pds, 2);
is(scalar @before, 2, 'two workers');

node_tap('firehose_workers.mjs', PDS_URL => $pds->{url}, PDS_ADMIN => $pds->{admin},
         SUB_URL => "http://127.0.0.1:$sub_port", NGINX_PID => $master);

my $log = slurp($pds->{log});
my %first = map { $_ => 1 } grep { my $p = $_; grep { $_ == $p } @before }
            $log =~ /^\S+ \S+ \[info\] (\d+)#\d+: \*\d+ pds: firehose subscriber from seq 1 /mg;
is(scalar keys %first, 2, 'the first subscribers were attached to both workers');

stop_all();
is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes (old workers exited cleanly)');
done_testing();
