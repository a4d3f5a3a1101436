#!/usr/bin/perl
# A worker's memory after large write batches (issue 22): a repo of SEED x
# 200 records (applyWrites, one at a time), then three rounds of 16
# applyWrites of 200 records in flight at once; prints the workers'
# RssAnon before and after.  LMDB keeps the dirty pages of a write
# transaction on the worker's free list until the environment closes, so
# what stays is set by the largest transaction: the writer caps a group
# commit at NGX_PDS_BATCH_OPS operations (ngx_pds_writer.c).
# Run from the checkout with the test environment of t/README.md:
#   SEED=500 perl bench/batch-memory.pl
use strict; use warnings; use lib "t/lib"; use POSIX ();
use PDSTest qw(start_pds http_json create_account nginx_pids);
my $pds = start_pds(config => "pds_rate_limits off;") or die "no pds";
my $a = create_account($pds, handle => 'mem.test') or die;
my $h = { Authorization => "Bearer $a->{accessJwt}" };
sub anon { my $t = 0; for my $p ((nginx_pids($pds))[1..2]) { next unless $p; open my $f, '<', "/proc/$p/status" or next; while (<$f>) { $t += $1 if /^RssAnon:\s+(\d+)/ } } $t }
# warm-up: a few small writes
http_json(POST => "$pds->{url}/xrpc/com.atproto.repo.createRecord", { repo => $a->{did}, collection => 'app.bsky.feed.post', record => { '$type' => 'app.bsky.feed.post', text => 'w', createdAt => '2026-12-06T10:00:00.000Z' } }, $h) for 1..20;
for my $b (1..($ENV{SEED}||0)) {
  my @w = map { { '$type' => 'com.atproto.repo.applyWrites#create', collection => 'app.bsky.feed.post',
     value => { '$type' => 'app.bsky.feed.post', text => "seed $b-$_ of ordinary length for a test", createdAt => '2026-12-06T10:00:00.000Z' } } } 1..200;
  my ($s) = http_json(POST => "$pds->{url}/xrpc/com.atproto.repo.applyWrites", { repo => $a->{did}, writes => \@w }, $h);
  die "seed $s" unless $s == 200;
}
my $before = anon();
for my $round (1..3) {
  my @kids;
  for my $k (1..16) {
    my $pid = fork(); if (!$pid) {
      my @w = map { { '$type' => 'com.atproto.repo.applyWrites#create', collection => 'app.bsky.feed.post',
         value => { '$type' => 'app.bsky.feed.post', text => "post $round-$k-$_ of ordinary length for a test", createdAt => '2026-12-06T10:00:00.000Z' } } } 1..200;
      my ($s) = http_json(POST => "$pds->{url}/xrpc/com.atproto.repo.applyWrites", { repo => $a->{did}, writes => \@w }, $h);
      POSIX::_exit($s == 200 ? 0 : 1);
    }
    push @kids, $pid;
  }
  my $bad = 0; for (@kids) { waitpid($_, 0); $bad++ if $? } print "round $round: failures $bad\n";
}
sleep 2;
my $after = anon();
printf "worker RssAnon (both workers) before %d kB, after 3 x 16 applyWrites of 200: %d kB (+%.1f MB)\n", $before, $after, ($after-$before)/1024;
