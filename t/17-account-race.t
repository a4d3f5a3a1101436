# Nothing is left half-made: two sign-ups race for one email address.  Both
# pass the early checks and register a DID at the PLC directory; the store
# takes one, and the loser's DID is tombstoned at the directory.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use POSIX ();
use PDSTest qw(start_pds http_json stop_all log_problems json);

my $pds = start_pds(config => <<'CONF')
        pds_invite_required off;
CONF
    or plan skip_all => 'no PLC directory (npm packages missing)';
my $u = $pds->{url};

my @pids;
for my $i (1 .. 2) {
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        my ($s, $b) = http_json(POST => "$u/xrpc/com.atproto.server.createAccount",
                                { email => 'same@example.com', handle => "racer$i.test",
                                  password => 'racer-password' });
        open my $fh, '>', "$pds->{dir}/race$i.json";
        print $fh json()->encode({ status => $s, body => $b });
        close $fh;
        POSIX::_exit(0);            # not the parent's END blocks

    }
    push @pids, $pid;
}
waitpid $_, 0 for @pids;

my @r = map { json()->decode(PDSTest::slurp("$pds->{dir}/race$_.json")) } 1 .. 2;
my ($win) = grep { $_->{status} == 200 } @r;
my ($lose) = grep { $_->{status} != 200 } @r;

ok($win, 'one sign-up wins');
SKIP: {
    skip 'both requests were not concurrent enough to race', 6 unless $lose;
    is($lose->{status}, 400, 'the other is refused');
    like($lose->{body}{message}, qr/^Email already taken/, '... because the email is taken');

    # the loser's DID (the PDS logs it): registered, then tombstoned
    my ($did) = PDSTest::slurp($pds->{log}) =~ /storing the new account (did:plc:[a-z2-7]{24}) failed/;
    ok($did, 'the PDS logged the DID it gave up');
    my ($s, $log) = http_json(GET => "$pds->{plc}/$did/log/audit");
    my @ops = ref $log eq 'ARRAY' ? @$log : ();
    is(scalar @ops, 2, 'the directory has its genesis and one more operation');
    is($ops[-1]{operation}{type}, 'plc_tombstone', '... a tombstone');
    ($s) = http_json(GET => "$pds->{plc}/$did");
    is($s, 404, 'the DID no longer resolves');
    my ($st) = http_json(GET => "$u/xrpc/com.atproto.identity.resolveHandle?handle=" .
                              ($win->{body}{handle} eq 'racer1.test' ? 'racer2.test' : 'racer1.test'));
    is($st, 400, 'the losing handle is free again');
}

my ($s, $b) = http_json(POST => "$u/xrpc/com.atproto.server.createSession",
                        { identifier => 'same@example.com', password => 'racer-password' });
is($b->{did}, $win->{body}{did}, 'the email belongs to the winner');

stop_all();
is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes');
done_testing();
