#!/usr/bin/perl
# @atproto/repo reads and verifies repos, diffs, proofs and firehose
# events made by the core's repo engine (t/js/repo_verify.mjs prints TAP,
# which prove reads directly).
use strict;
use warnings;
use lib 't/lib';
use PDSTest qw(need_node);

need_node('@atproto/repo');
exec 'node', 't/js/repo_verify.mjs' or die "cannot run node: $!";
