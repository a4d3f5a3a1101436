# HTTP-level fuzzing of a live server: tools/fuzz-http sends hostile XRPC
# requests (a sweep of every com.atproto method's parameters and fields,
# then random ones: malformed and deeply nested JSON, invalid UTF-8, NULs,
# huge numbers and strings, forged tokens, bogus CIDs / AT-URIs / DIDs,
# oversize bodies, broken CARs, hostile WebSocket handshakes and frames)
# and checks every answer.  A short run here (3,000 requests or 50 s,
# whichever comes first); `make fuzz-http` runs 100,000 (FUZZ_HTTP_REQUESTS),
# and with SANITIZE=1 against the ASan/UBSan build.
#
# The tenant has no AppView, so app.bsky.* calls are refused locally; the
# only outbound calls the fuzzer can cause (DID documents, handles) go to a
# resolver on a closed loopback port.  Failing inputs are kept under
# $PDS_BUILD_DIR/fuzz-http/seed-N (raw request bytes, a description, a
# curl line); the seed is PDS_FUZZ_HTTP_SEED (default 1).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Cwd qw(abs_path);
use File::Path qw(make_path remove_tree);
use PDSTest qw(start_pds stop_all log_problems free_port json slurp);

my $requests = $ENV{PDS_FUZZ_HTTP_REQUESTS} || 3000;
my $seconds  = $ENV{PDS_FUZZ_HTTP_SECONDS} || 50;
my $seed     = $ENV{PDS_FUZZ_HTTP_SEED} // 1;

my $root = abs_path('.');
my $build = $ENV{PDS_BUILD_DIR} || "$root/build";
my $out = $ENV{PDS_FUZZ_HTTP_OUT} || "$build/fuzz-http/seed-$seed";
remove_tree($out);
make_path($out);

my $dns = free_port();
my $pds = start_pds(extra => "pds_rate_limits off; resolver 127.0.0.1:$dns; resolver_timeout 1s;")
    or plan skip_all => 'no PLC directory (npm packages missing)';

my $shared = $ENV{PDS_SHARED_DIR} || "$root/../shared";
my @cmd = ("$root/tools/fuzz-http", '--url', $pds->{url}, '--admin', $pds->{admin},
           '--seed', $seed, '--requests', $requests, '--seconds', $seconds,
           '--lexicons', "$shared/lexicons", '--log', $pds->{log}, '--out', $out);
# its progress and each first failure, as it goes, in run.log
my $pid = fork() // die "fork: $!";
if ($pid == 0) {
    open STDOUT, '>', "$out/run.log" or die;
    open STDERR, '>&', \*STDOUT;
    exec @cmd or die "exec: $!";
}
waitpid $pid, 0;
my $rc = $? >> 8;
my $summary = eval { json()->decode(slurp("$out/summary.json")) };
ok($summary && $rc != 2, 'fuzz-http ran (setup: accounts, records, a blob, an app password)')
    or do { diag "fuzz-http did not run (exit $rc)"; stop_all(); done_testing(); exit 1 };

my %f = %{ $summary->{failures} || {} };
my @distinct = @{ $summary->{distinct} || [] };
diag sprintf 'seed %d: %d requests in %ss (stopped by %s; sweep %d, %d WebSocket cases); statuses %s',
    $seed, $summary->{requests}, $summary->{seconds}, $summary->{stopped_by}, $summary->{sweep},
    $summary->{ws_cases}, join(' ', map { "$_:$summary->{statuses}{$_}" } sort keys %{ $summary->{statuses} });
diag "notes: $_ ($summary->{notes}{$_})" for sort keys %{ $summary->{notes} || {} };
my $least = $requests < 500 ? $requests : 500;
ok($summary->{requests} >= $least, "at least $least requests sent ($summary->{requests})");

# each check, with the distinct failures of its kinds
sub check {
    my ($name, @kinds) = @_;
    my %k = map { $_ => 1 } @kinds;
    my @mine = grep { $k{ $_->{kind} } } @distinct;
    my $n = 0;
    $n += $f{$_} // 0 for @kinds;
    ok(!@mine, "$name" . ($n ? " ($n failing requests, " . scalar(@mine) . ' distinct)' : ''))
        or do {
            for my $d (@mine) {
                diag sprintf "#%d %s: %s\n    request: %s\n    answer: %s %s\n    saved: %s",
                    $d->{index}, $d->{kind}, $d->{detail}, substr($d->{request}, 0, 400),
                    $d->{status} // '-', substr($d->{body} // '', 0, 200), $d->{file};
            }
        };
}

check('no 5xx (501 MethodNotImplemented and proxied 502/504 aside)', '5xx');
check('every /xrpc/ error is JSON with string "error" and "message"', 'non-json-error');
check('no error message carries bytes that are not in the request', 'garbage-message');
check('every JSON 2xx answer parses', 'bad-json');
check('every request is answered', 'no-answer');
check('the worker never crashed', 'crash');
check('no crash or sanitizer report in the error log', 'log');
check('WebSocket protocol violations fail the connection with close 1002/1007',
      'ws-ignored', 'ws-no-close-frame', 'ws-wrong-code', 'ws-not-closed');
check('WebSocket pings are answered and valid frames keep the subscription',
      'ws-no-pong', 'ws-not-alive', 'ws-handshake');
check('a plain request after a hostile one on the same connection is answered', 'keep-alive');
my %known = map { $_ => 1 } qw(5xx keep-alive non-json-error garbage-message bad-json no-answer crash log
                                ws-ignored ws-no-close-frame ws-wrong-code ws-not-closed
                                ws-no-pong ws-not-alive ws-handshake);
check('no other kind of failure', grep { !$known{$_} } keys %f);

stop_all();
# PDSTest's log_problems, and workers that ended with an error code (as a
# worker stopped by AddressSanitizer does)
my @exits = grep { /worker process \d+ exited with code [1-9]/ } split /\n/, slurp($pds->{log});
is_deeply([log_problems($pds->{log}), @exits], [], 'no alerts, crashes or sanitizer reports in the error log');
diag "failing inputs and the run's log: $out" if @distinct;
done_testing();
