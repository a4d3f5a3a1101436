#!/usr/bin/perl
# How long a hot backup of a tenant takes (build/pds-backup, what
# `pdsadmin backup` runs), for a tenant of about BENCH_BACKUP_MB megabytes
# (default 100): records written with applyWrites and blobs uploaded, then
# the backup taken while 8 writers keep writing, then the restore's copy.
# Prints one table.  Not a test: nothing here asserts a time.
#
#   perl bench/backup.pl            (after `make`; needs the test npm packages
#                                    for the local PLC, as `make test` installs)
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use POSIX ();
use Time::HiRes qw(time);
use PDSTest qw(start_pds create_account http_json stop_all);

chdir "$FindBin::Bin/.." or die $!;
my $build = $ENV{PDS_BUILD_DIR} || 'build';
-x "$build/pds-backup" or die "$build/pds-backup is not built (make)\n";
my $target_mb = $ENV{BENCH_BACKUP_MB} || 100;

my $pds = start_pds(config => 'pds_rate_limits off;') or die "no PLC directory (make test-deps)\n";
my $u = $pds->{url};
my @acc = map { create_account($pds, handle => "bk$_.test") or die "no account\n" } 1 .. 8;

sub auth { return { Authorization => "Bearer $_[0]{accessJwt}" } }

sub du_mb {
    my ($d) = @_;
    my ($kb) = `du -sk \Q$d\E` =~ /^(\d+)/;
    return ($kb // 0) / 1024;
}

# fill: one third blobs (1 MB each, random bytes), the rest records
my $t0 = time;
my ($records, $blobs) = (0, 0);
my $blob_mb = int($target_mb / 3);
for my $i (1 .. $blob_mb) {
    my $a = $acc[$i % @acc];
    my $bytes = join '', map { chr int rand 256 } 1 .. 1024 * 1024;
    my ($s) = http_json(POST => "$u/xrpc/com.atproto.repo.uploadBlob", $bytes,
                        { %{ auth($a) }, 'Content-Type' => 'application/octet-stream' });
    $blobs++ if $s == 200;
}
my $batch = 0;
while (du_mb($pds->{dir}) < $target_mb && $batch < 2000) {    # bounded
    my $a = $acc[$batch++ % @acc];
    my @w = map { { '$type' => 'com.atproto.repo.applyWrites#create',
                    collection => 'app.bsky.feed.post',
                    value => { '$type' => 'app.bsky.feed.post',
                               text => "post $batch.$_ " . ('x' x 200),
                               createdAt => '2026-12-06T00:00:00.000Z' } } } 1 .. 100;
    my ($s) = http_json(POST => "$u/xrpc/com.atproto.repo.applyWrites",
                        { repo => $a->{did}, writes => \@w }, auth($a));
    $records += 100 if $s == 200;
}
my $fill = time - $t0;
my $size = du_mb($pds->{dir});

# 8 writers (bounded: each stops after 2,000 writes or 60 s)
my @kids;
for my $a (@acc) {
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        my $end = time + 60;
        for my $i (1 .. 2000) {
            last if time > $end || -e "$pds->{dir}/stop-writers";
            http_json(POST => "$u/xrpc/com.atproto.repo.createRecord",
                      { repo => $a->{did}, collection => 'app.bsky.feed.like',
                        record => { '$type' => 'app.bsky.feed.like',
                                    subject => { uri => "at://$a->{did}/app.bsky.feed.post/x$i",
                                                 cid => 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm' },
                                    createdAt => '2026-12-06T00:00:00.000Z' } }, auth($a));
        }
        POSIX::_exit(0);
    }
    push @kids, $pid;
}
select undef, undef, undef, 1;    # writers under way
my $bk = "$pds->{dir}/backup";
my $tb = time;
my $json = `\Q$build\E/pds-backup \Q$pds->{dir}/data\E \Q$bk\E`;
my $backup_s = time - $tb;
die "pds-backup failed\n" if $?;
open my $stop, '>', "$pds->{dir}/stop-writers" or die $!;
close $stop;
waitpid $_, 0 for @kids;

my $tr = time;
system('tools/pdsadmin', 'restore', $bk, "$pds->{dir}/restored") == 0 or die "restore failed\n";
my $restore_s = time - $tr;

printf "# hot backup of a %.0f MB tenant (%d records, %d blobs of 1 MB; filled in %.0f s)\n",
       $size, $records, $blobs, $fill;
printf "| %-34s | %s |\n", 'step', 'result';
printf "| %-34s | %s |\n", '---', '---';
printf "| %-34s | %.2f s |\n", 'pds-backup, 8 writers running', $backup_s;
printf "| %-34s | %s |\n", 'pds-backup says', $json =~ s/\s+$//r;
printf "| %-34s | %.0f MB |\n", 'backup on disk', du_mb($bk);
printf "| %-34s | %.2f s |\n", 'pdsadmin restore', $restore_s;
stop_all();
