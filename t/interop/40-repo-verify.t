#!/usr/bin/perl
# @atproto/repo reads and verifies repos, diffs, proofs and firehose
# events made by the core's repo engine (t/js/repo_verify.mjs prints TAP).
if (!-d 't/js/node_modules/@atproto/repo') {
    print "1..0 # SKIP no node_modules\n";
    exit 0;
}
exec 'node', 't/js/repo_verify.mjs' or die "cannot run node: $!";
