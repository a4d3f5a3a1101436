# Blob hygiene (core/pds_blob_check.c): blob files against blob rows.
# Blobs are uploaded and referenced by records, then the data directory is
# damaged: a referenced blob's file is deleted, a file without a row and
# two hours old is added (a crash between an upload's rename and its row),
# and a fresh one (an upload in flight).  `pdsadmin blobs check DATA_DIR`
# (build/pds-fsck) reports them and changes nothing; with --repair the
# row of the lost file is deleted (listMissingBlobs lists the blob, getBlob
# says "Blob not found", an upload of the same bytes makes it whole again),
# the old file is removed and the fresh one kept — all while nginx runs.
# Then the start-up pass: damaged again, nginx restarted, the pass logs
# its summary and has repaired the same way; with "pds_blob_check off"
# no pass runs.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Digest::SHA qw(sha256);
use Time::HiRes qw(sleep time);
use PDSTest qw(start_pds http_json stop_all log_problems create_account slurp
               nginx_pids write_file json);

my $build = $ENV{PDS_BUILD_DIR} || 'build';
-x "$build/pds-fsck" or plan skip_all => "$build/pds-fsck is not built";

my $pds = start_pds() or plan skip_all => 'no PLC directory (npm packages missing)';
my $data = "$pds->{dir}/data";

# a raw blob's CID, as its file is named: base32 "b" of 0x01 0x55 0x12 0x20 + sha-256
sub cid_of {
    my $bits = unpack 'B*', "\x01\x55\x12\x20" . sha256($_[0]);
    $bits .= '0' x ((5 - length($bits) % 5) % 5);
    return 'b' . join '', map { ('a' .. 'z', '2' .. '7')[oct "0b$_"] } $bits =~ /(.{5})/g;
}

sub upload {
    my ($acc, $bytes) = @_;
    my ($s, $b) = http_json(POST => "$pds->{url}/xrpc/com.atproto.repo.uploadBlob", $bytes,
                            { Authorization => "Bearer $acc->{accessJwt}",
                              'Content-Type' => 'image/png' });
    return ($s, $b);
}

sub missing_blobs {
    my ($acc) = @_;
    my ($s, $r) = http_json(GET => "$pds->{url}/xrpc/com.atproto.repo.listMissingBlobs", undef,
                            { Authorization => "Bearer $acc->{accessJwt}" });
    return $s == 200 ? [ sort map { $_->{cid} } @{ $r->{blobs} } ] : "status $s";
}

sub get_blob {
    my ($acc, $cid) = @_;
    my ($s, $r, $res) = http_json(GET => "$pds->{url}/xrpc/com.atproto.sync.getBlob?did=$acc->{did}&cid=$cid");
    return ($s, $r, $res);
}

# pdsadmin blobs check DATA [options]: (exit status, stdout)
sub check {
    my $out = qx{PDS_FSCK=$build/pds-fsck tools/pdsadmin blobs check $data @_ 2>&1};
    return ($? >> 8, $out);
}

sub summary {
    my ($out) = @_;
    my ($line) = $out =~ /^(\{.*\})\s*$/m;
    return $line ? json()->decode($line) : {};
}

my $acc = create_account($pds, handle => 'bea.test');
ok($acc, 'an account') or BAIL_OUT('no account');

my %bytes = map { $_ => "$_ " . ('x' x 3000) . " $_" } qw(keep lost later);
my %cid;
for my $k (sort keys %bytes) {
    my ($s, $b) = upload($acc, $bytes{$k});
    is($s, 200, "uploadBlob $k");
    $cid{$k} = $b->{blob}{ref}{'$link'};
    is($cid{$k}, cid_of($bytes{$k}), "its CID is the file's name ($k)");
    ($s, $b) = http_json(POST => "$pds->{url}/xrpc/com.atproto.repo.createRecord",
        { repo => $acc->{did}, collection => 'app.bsky.feed.post',
          record => { '$type' => 'app.bsky.feed.post', text => "with $k",
                      createdAt => '2026-12-06T00:00:00.000Z',
                      embed => { '$type' => 'app.bsky.embed.images',
                                 images => [ { alt => '', image => $b->{blob} } ] } } },
        { Authorization => "Bearer $acc->{accessJwt}" });
    is($s, 200, "a post referencing $k");
}

my ($folder) = glob "$data/blobs/*/$cid{keep}";
ok($folder, 'the blob files are in blobs/<uid>/') or BAIL_OUT('no blob file');
$folder =~ s{/[^/]+$}{};
is_deeply(missing_blobs($acc), [], 'nothing missing at first');

# the damage
my $old = "orphan that lost its row " . ('y' x 100);
my $young = "an upload in flight " . ('z' x 100);
ok(unlink("$folder/$cid{lost}"), "the file of a referenced blob is lost");
write_file("$folder/" . cid_of($old), $old);
utime(time - 7200, time - 7200, "$folder/" . cid_of($old));
write_file("$folder/" . cid_of($young), $young);

# report only
my ($rc, $out) = check();
is($rc, 3, 'pdsadmin blobs check: exit 3 (problems found)') or diag $out;
like($out, qr/^missing\s+blobs\/\w+\/$cid{lost}: /m, 'the lost file is reported');
like($out, qr/^orphan\s+blobs\/\w+\/@{[cid_of($old)]}: /m, 'the old file without a row is reported');
like($out, qr/^young\s+blobs\/\w+\/@{[cid_of($young)]}: .*kept/m, 'the fresh one is reported as young');
my $sum = summary($out);
is_deeply([ @$sum{qw(rows files missing damaged orphans young repaired removed errors)} ],
          [ 3, 4, 1, 0, 1, 1, 0, 0, 0 ], 'the summary counts them; nothing changed')
    or diag $out;
ok(-e "$folder/" . cid_of($old), 'the old orphan is still there');
is_deeply(missing_blobs($acc), [], 'the row is still there (not listed missing)');
my ($s) = get_blob($acc, $cid{lost});
is($s, 400, 'getBlob of the lost file: 400 Blob not found');

# --verify finds nothing more (the kept files are whole)
($rc, $out) = check('--verify');
is(summary($out)->{damaged}, 0, '--verify: no damaged file');

# repair, while nginx runs
($rc, $out) = check('--repair');
is($rc, 0, 'pdsadmin blobs check --repair: exit 0') or diag $out;
$sum = summary($out);
is_deeply([ @$sum{qw(missing orphans young repaired removed errors)} ], [ 1, 1, 1, 1, 1, 0 ],
          'one row repaired, one file removed') or diag $out;
ok(!-e "$folder/" . cid_of($old), 'the old orphan is gone');
ok(-e "$folder/" . cid_of($young), 'the fresh one is kept');
ok(-e "$folder/$cid{keep}", 'the good blob is untouched');
is_deeply(missing_blobs($acc), [ $cid{lost} ], 'listMissingBlobs lists the lost blob');
my ($st, $r) = get_blob($acc, $cid{lost});
is($st, 400, 'getBlob: 400');
is(ref $r && $r->{message}, 'Blob not found', '... Blob not found');
($st) = get_blob($acc, $cid{keep});
is($st, 200, 'getBlob of the good blob: 200');

# uploading the same bytes again makes it whole
($st, $r) = upload($acc, $bytes{lost});
is($st, 200, 'the lost blob uploaded again');
is_deeply(missing_blobs($acc), [], 'nothing missing any more');
my $res;
($st, undef, $res) = get_blob($acc, $cid{lost});
is($st, 200, 'getBlob of it: 200');
is($res->{content}, $bytes{lost}, '... with its bytes');

($rc, $out) = check('--repair');
is($rc, 0, 'a second --repair');
$sum = summary($out);
is($sum->{missing} + $sum->{orphans} + $sum->{repaired} + $sum->{removed}, 0,
   'finds nothing more') or diag $out;

# ---- the start-up pass ------------------------------------------------------

sub passes { my $n = () = slurp($pds->{log}) =~ /pds: blob check of "localhost": /g; $n }

sub restart {
    my (%o) = @_;
    my ($master) = nginx_pids($pds);
    kill 'TERM', $master;
    waitpid $master, 0;
    my $p = start_pds(dir => $pds->{dir}, plc => $pds->{plc}, admin_password => $pds->{admin}, %o)
        or BAIL_OUT('nginx did not start again');
    $pds->{url} = $p->{url};
    $pds->{port} = $p->{port};
}

sub wait_pass {
    my ($n) = @_;
    my $t0 = time;
    while (time - $t0 < 20) {
        return 1 if passes() > $n;
        sleep 0.25;
    }
    return 0;
}

my $before = passes();

my $old2 = "another orphan " . ('w' x 100);
ok(unlink("$folder/$cid{later}"), 'another referenced file lost');
write_file("$folder/" . cid_of($old2), $old2);
utime(time - 7200, time - 7200, "$folder/" . cid_of($old2));

restart();
ok(wait_pass($before), 'nginx restarted: a pass ran in the background');
my ($line) = slurp($pds->{log}) =~ /(pds: blob check of "localhost": [^\n]*repaired[^\n]*)\n(?![\s\S]*pds: blob check of "localhost": \d)/;
like($line // '', qr/3 rows, 4 files .*found 1 missing, 0 damaged, 1 orphans, 1 young.*repaired 1 rows, removed 1 files; 0 errors/,
     'its summary line') or diag $line;
like(slurp($pds->{log}), qr/blob check of "localhost": blobs\/\w+\/$cid{later}: a blob row without its file: row deleted/,
     'the repair is logged');
ok(!-e "$folder/" . cid_of($old2), 'the old orphan is gone');
ok(-e "$folder/" . cid_of($young), 'the young file is kept');
is_deeply(missing_blobs($acc), [ $cid{later} ], 'listMissingBlobs lists the lost blob');
($st) = upload($acc, $bytes{later});
is($st, 200, 'uploaded again');
($st) = get_blob($acc, $cid{later});
is($st, 200, 'getBlob: 200');

# turned off
$before = passes();
my $old3 = "a third orphan " . ('v' x 100);
write_file("$folder/" . cid_of($old3), $old3);
utime(time - 7200, time - 7200, "$folder/" . cid_of($old3));
restart(config => 'pds_blob_check off;');
sleep 7;
is(passes(), $before, 'pds_blob_check off: no pass');
ok(-e "$folder/" . cid_of($old3), 'the orphan stays');

my @problems = log_problems($pds->{log});
is(scalar @problems, 0, 'no alerts or crashes in the error log') or diag join "\n", @problems;

stop_all();
done_testing();
