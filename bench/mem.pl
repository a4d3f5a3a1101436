#!/usr/bin/perl
# Memory of a process and all its descendants, from /proc, in kB.
#
#   mem.pl <pid> <data dir>                  prints "rss pss anon own" once
#   mem.pl <pid> <data dir> <file> <secs>    samples every <secs> until the
#                                            process is gone or this one is
#                                            killed, keeping the peak of each
#                                            of the four in <file>
#
# rss:  VmRSS summed over the processes; counts a shared page (a library, a
#       map shared by the workers) once per process, as ps does.
# pss:  proportional set size summed: each resident page counted once, split
#       between the processes that map it.
# anon: RssAnon summed: the private heap and stacks.
# own:  pss without the mappings of files under <data dir>: the memory of the
#       processes, not the page cache of their database.  LMDB reads its
#       file through a shared map, so the cached pages of the database show
#       up in our RSS and PSS; SQLite reads with read(), so the reference's
#       cached database pages are in the kernel's page cache and in neither.
#       Excluding the data files' mappings counts both sides alike.
use strict;
use warnings;
use Time::HiRes qw(sleep);

my ($root, $data, $file, $every) = @ARGV;
die "usage: mem.pl <pid> <data dir> [<file> <secs>]\n" unless $root && $data;
$data =~ s{/+$}{};

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

# (pss of all mappings, pss of mappings of files under $data)
sub smaps {
    my $p = shift;
    my ($all, $dat, $in) = (0, 0, 0);
    open my $f, '<', "/proc/$p/smaps" or return (0, 0);
    while (<$f>) {
        if (/^[0-9a-f]+-[0-9a-f]+\s/) {
            my $path = (split ' ', $_, 6)[5] // '';
            chomp $path;
            $in = index($path, "$data/") == 0;
        } elsif (/^Pss:\s+(\d+)/) {
            $all += $1;
            $dat += $1 if $in;
        }
    }
    close $f;
    return ($all, $dat);
}

sub mem {
    my ($rss, $pss, $anon, $own) = (0, 0, 0, 0);
    for my $p (tree()) {
        my ($all, $dat) = smaps($p);
        $rss += field("/proc/$p/status", 'VmRSS');
        $anon += field("/proc/$p/status", 'RssAnon');
        $pss += $all;
        $own += $all - $dat;
    }
    return ($rss, $pss, $anon, $own);
}

unless ($file) { print join(' ', mem()), "\n"; exit 0 }

my @peak = (0, 0, 0, 0);
$SIG{TERM} = sub { exit 0 };
while (kill 0, $root) {
    my @m = mem();
    my $up = 0;
    for my $i (0 .. 3) {
        if ($m[$i] > $peak[$i]) { $peak[$i] = $m[$i]; $up = 1 }
    }
    if ($up) {
        open my $f, '>', "$file.new" or die;
        print $f "@peak\n";
        close $f;
        rename "$file.new", $file;
    }
    sleep $every;
}
