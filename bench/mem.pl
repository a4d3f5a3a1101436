#!/usr/bin/perl
# Memory of a process and all its descendants, from /proc, in kB.
#
#   mem.pl <pid>                  prints "rss pss anon" once
#   mem.pl <pid> <file> <secs>    samples every <secs> until the process is
#                                 gone or this one is killed, keeping the
#                                 peak RSS (and PSS, anon at that moment) in <file>
# RSS counts shared pages once per process (as ps does); PSS divides them;
# anon is RssAnon, the private heap/stack part of RSS (no mapped files, such
# as shared libraries or an LMDB map, whose pages are the page cache's).
use strict;
use warnings;
use Time::HiRes qw(sleep);

my ($root, $file, $every) = @ARGV;

sub tree {
    my %kids;
    opendir my $d, '/proc' or die;
    for my $p (grep { /^\d+$/ } readdir $d) {
        open my $f, '<', "/proc/$p/stat" or next;
        my $s = <$f> // next;
        close $f;
        $s =~ /\)\s+\S+\s+(\d+)/ or next;
        push @{ $kids{$1} }, $p;
    }
    closedir $d;
    my @all = ($root);
    for (my $i = 0; $i < @all; $i++) { push @all, @{ $kids{$all[$i]} || [] } }
    return @all;
}

sub field {
    my ($path, $name) = @_;
    open my $f, '<', $path or return 0;
    while (<$f>) { return $1 if /^\Q$name\E:\s+(\d+)/ }
    return 0;
}

sub mem {
    my ($rss, $pss, $anon) = (0, 0, 0);
    for my $p (tree()) {
        $rss += field("/proc/$p/status", 'VmRSS');
        $anon += field("/proc/$p/status", 'RssAnon');
        $pss += field("/proc/$p/smaps_rollup", 'Pss');
    }
    return ($rss, $pss, $anon);
}

unless ($file) { print join(' ', mem()), "\n"; exit 0 }

my $peak = 0;
$SIG{TERM} = sub { exit 0 };
while (kill 0, $root) {
    my ($rss, $pss, $anon) = mem();
    if ($rss > $peak) {
        $peak = $rss;
        open my $f, '>', "$file.new" or die;
        print $f "$rss $pss $anon\n";
        close $f;
        rename "$file.new", $file;
    }
    sleep $every;
}
