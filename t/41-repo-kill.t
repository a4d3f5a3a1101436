#!/usr/bin/perl
# Durability of the repo engine: pds_repo_cli random-writes is SIGKILLed at
# random moments, many times; after each kill the store must verify (roots,
# MST, record index, block refcounts, event sequence) and every commit the
# tool acknowledged (printed after its transaction committed) must be there.

use strict;
use warnings;

use File::Temp qw(tempdir);
use Time::HiRes qw(sleep time);
use POSIX qw(WNOHANG);

my $build = $ENV{PDS_BUILD_DIR} || 'build';
my $cli = "$build/t/pds_repo_cli";

if (!-x $cli) {
    print "1..0 # SKIP $cli not built\n";
    exit 0;
}

my $rounds = 20;
my $n = 0;
my $failed = 0;

sub ok {
    my ($cond, $name) = @_;
    $n++;
    print(($cond ? "ok" : "not ok") . " $n - $name\n");
    $failed++ unless $cond;
    return $cond;
}

my $dir = tempdir('pds-kill-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $did = 'did:plc:killtestkilltestkilltest';
my $key = join '', map { sprintf '%02x', 1 + int rand 250 } 1 .. 32;

ok(system($cli, 'init', $dir) == 0, 'init');
ok(system("$cli create-repo $dir $did $key > /dev/null") == 0, 'create-repo');

my %acked;          # rev -> commit
my $last_rev = '';
my $start = time;

for my $round (1 .. $rounds) {
    my $group = 1 + int rand 8;
    my $pid = open(my $out, '-|') // die "fork: $!";

    if ($pid == 0) {
        exec $cli, 'random-writes', $dir, $did, 1000000, '--seed',
             $round * 7919 + int(rand 1000), '--ops', 3, '--group', $group
            or die "exec: $!";
    }

    my $delay = 0.05 + rand 0.35;
    sleep $delay;
    kill 'KILL', $pid;

    # everything printed before the kill was acknowledged
    my $lines = 0;
    while (my $line = <$out>) {
        chomp $line;
        my ($rev, $commit) = split / /, $line;
        next unless defined $commit;
        $acked{$rev} = $commit;
        $last_rev = $rev if $rev gt $last_rev;
        $lines++;
    }
    close $out;

    my $verify = `$cli verify $dir 2>&1`;
    ok($? == 0 && $verify =~ /^ok /,
       sprintf('round %d (group %d, killed after %.2fs, %d acked): verify',
               $round, $group, $delay, $lines))
        or print "# $verify";

    my ($root_commit, $root_rev) = split / /, `$cli root $dir $did`;
    ok(defined $root_rev && $root_rev ge $last_rev,
       "round $round: root rev $root_rev >= last acknowledged $last_rev");

    last if time - $start > 45;
}

# every acknowledged commit is in the event log, with its rev
my %events;
for my $line (split /\n/, `$cli events $dir`) {
    my ($seq, $type, $repo, $rev, $commit) = split / /, $line;
    $events{$rev} = $commit if $type eq '#commit';
}

my @missing = grep { !defined $events{$_} || $events{$_} ne $acked{$_} }
              keys %acked;
ok(keys(%acked) > 100, scalar(keys %acked) . ' commits acknowledged');
ok(!@missing, 'every acknowledged commit has its #commit event')
    or print "# missing: @missing[0 .. ($#missing < 5 ? $#missing : 4)]\n";

# and the writes go on after the last kill
ok(system("$cli random-writes $dir $did 20 --seed 1 > /dev/null") == 0
   && `$cli verify $dir` =~ /^ok /, 'writes and verifies after the kills');

print "1..$n\n";
exit($failed ? 1 : 0);
