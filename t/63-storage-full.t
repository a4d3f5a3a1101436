# A full store (#22): a tenant with a tiny LMDB map (24 MB, of which 8 MB are
# kept for deletions) filled by 8 writers at once on two workers.  No write
# ever answers 500: once full, writes that add data (createRecord, putRecord,
# applyWrites with creates, uploadBlob, createAccount) answer 507 StorageFull,
# every write acknowledged with 200 is stored, deletions (deleteRecord,
# applyWrites of deletes only) still run while full, and after them new
# writes succeed again (LMDB reuses the freed pages).  The error log tells
# the operator what to do, without an alert.  As root, the same with the
# default map (64 GB) and the data directory on a 40 MB tmpfs: the disk
# fills first, with the same answers.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use POSIX ();
use PDSTest qw(start_pds http_json stop_all log_problems json create_account scratch_dir);

my $pds = start_pds(workers => 2, config => <<'CONF')
        pds_rate_limits off;
        pds_lmdb_map_size 24m;
CONF
    or plan skip_all => 'no PLC directory (npm packages missing)';
my $u = $pds->{url};
my $acct = create_account($pds, handle => 'filler.test');
ok($acct, 'account') or BAIL_OUT('no account');
my $gone = create_account($pds, handle => 'gone.test');
ok($gone, 'a second account');
my %auth = (Authorization => "Bearer $acct->{accessJwt}");
my $coll = 'com.example.filler';
my $pad = 'p' x 20000;           # ~20 kB a record: the map fills in a few hundred

sub create {
    my ($tag) = @_;
    return http_json(POST => "$u/xrpc/com.atproto.repo.createRecord",
                     { repo => $acct->{did}, collection => $coll,
                       record => { '$type' => $coll, tag => $tag, pad => "$tag $pad" } },
                     \%auth);
}

# ---- 8 writers fill the map (each stops after 5 refusals in a row)

my ($clients, $each) = (8, 150);
my @pids;
for my $c (1 .. $clients) {
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        my (@acks, $refused);
        for my $i (1 .. $each) {
            my ($st, $b) = create("c$c-$i");
            push @acks, { status => $st, uri => ref $b ? $b->{uri} : undef,
                          error => ref $b ? $b->{error} : substr($b // '', 0, 80),
                          message => ref $b ? $b->{message} : undef };
            $refused = $st == 200 ? 0 : $refused + 1;
            last if $refused >= 5;
        }
        open my $fh, '>', "$pds->{dir}/client$c.json" or POSIX::_exit(1);
        print $fh json()->encode(\@acks);
        close $fh;
        POSIX::_exit(0);
    }
    push @pids, $pid;
}
waitpid $_, 0 for @pids;

my @acks = map { @{ json()->decode(PDSTest::slurp("$pds->{dir}/client$_.json")) } } 1 .. $clients;
my @ok = grep { $_->{status} == 200 } @acks;
my @full = grep { $_->{status} == 507 } @acks;
my @other = grep { $_->{status} != 200 && $_->{status} != 507 } @acks;
note(scalar(@acks) . " writes: " . scalar(@ok) . " acknowledged, " . scalar(@full) . " refused as full");
cmp_ok(scalar(@ok), '>', 100, 'a few hundred writes acknowledged before the map filled');
ok(@full > 0, 'then writes are refused');
is_deeply([map { "$_->{status} " . ($_->{error} // '') } @other], [], 'no answer but 200 or 507 (no 500)');
is_deeply([sort keys %{ { map { (($_->{error} // '') => 1) } @full } }], ['StorageFull'],
          'refusals are StorageFull');
like($full[0]{message} // '', qr/storage is full/, 'the message tells the user the storage is full');

# ---- every acknowledged write is stored

my %stored;
my $cursor;
my $pages = 0;
do {
    my $q = "repo=$acct->{did}&collection=$coll&limit=100" . ($cursor ? "&cursor=$cursor" : '');
    my ($s, $page) = http_json(GET => "$u/xrpc/com.atproto.repo.listRecords?$q");
    $stored{$_->{uri}} = 1 for @{ ref $page ? $page->{records} : [] };
    $cursor = ref $page && @{ $page->{records} } == 100 ? $page->{cursor} : undef;
} while ($cursor && ++$pages < 100);
is(scalar(grep { $stored{$_->{uri}} } @ok), scalar(@ok), 'every acknowledged record is listed');
is(scalar(keys %stored), scalar(@ok), 'and nothing else');
is(scalar(grep { $_->{status} == 200 && !$stored{$_->{uri}} } @acks), 0, 'none lost');
my ($rkey0) = $ok[0]{uri} =~ m{/([^/]+)$};
my ($s, $got) = http_json(GET => "$u/xrpc/com.atproto.repo.getRecord?repo=$acct->{did}&collection=$coll&rkey=$rkey0");
is($s, 200, 'getRecord of one');
is(length($got->{value}{pad} // ''), 20000 + length("$got->{value}{tag} "), 'with its whole content');

# ---- small records take what room the big ones left (one at a time)

# (the free pages are counted again each second near the ceiling: refusals
# that last over a second mean full)
my ($small, $smallst, $refusals, %small_other) = (0, 0, 0);
for my $i (1 .. 1000) {
    ($smallst, my $sb) = http_json(POST => "$u/xrpc/com.atproto.repo.createRecord",
                                   { repo => $acct->{did}, collection => $coll,
                                     record => { '$type' => $coll, tag => "small-$i" } }, \%auth);
    if ($smallst == 200) { $small++; $refusals = 0; next }
    $small_other{$smallst}++ if $smallst != 507;
    last if ++$refusals >= 6;
    select undef, undef, undef, 0.3;
}
is($smallst, 507, "small records too are refused once full ($small more fitted)");
is_deeply(\%small_other, {}, 'nothing but 200 and 507 for them');

# ---- while full: what adds data is refused, deletions run

($s, my $b) = create('while-full');
is("$s " . ($b->{error} // ''), '507 StorageFull', 'createRecord while full: 507 StorageFull');
($s, $b) = http_json(POST => "$u/xrpc/com.atproto.repo.putRecord",
                     { repo => $acct->{did}, collection => $coll, rkey => $rkey0,
                       record => { '$type' => $coll, tag => 'changed', pad => "x $pad" } }, \%auth);
is("$s " . ($b->{error} // ''), '507 StorageFull', 'putRecord while full: 507 StorageFull');
($s, $b) = http_json(POST => "$u/xrpc/com.atproto.repo.applyWrites",
                     { repo => $acct->{did},
                       writes => [{ '$type' => 'com.atproto.repo.applyWrites#create',
                                    collection => $coll, value => { '$type' => $coll, tag => 'aw' } }] },
                     \%auth);
is("$s " . ($b->{error} // ''), '507 StorageFull', 'applyWrites with a create while full: 507 StorageFull');
($s, $b) = http_json(POST => "$u/xrpc/com.atproto.repo.uploadBlob", "\x89PNG full " . ('x' x 100),
                     { %auth, 'Content-Type' => 'image/png' });
is("$s " . (ref $b ? $b->{error} // '' : ''), '507 StorageFull', 'uploadBlob while full: 507 StorageFull');
my ($si, $inv) = http_json(POST => "$u/xrpc/com.atproto.server.createInviteCode", { useCount => 1 },
                           { Authorization => PDSTest::basic_auth('admin', $pds->{admin}) });
($s, $b) = http_json(POST => "$u/xrpc/com.atproto.server.createAccount",
                     { handle => 'late.test', email => 'late@example.com', password => 'late-password',
                       inviteCode => ref $inv ? $inv->{code} : '' });
is("$s " . ($b->{error} // ''), '507 StorageFull', "createAccount while full: 507 StorageFull (invite: $si)");

my @del = @ok[1 .. ($#ok < 200 ? $#ok - 10 : 200)];
my %del_status;
for my $a (@del) {
    my ($rkey) = $a->{uri} =~ m{/([^/]+)$};
    my ($st) = http_json(POST => "$u/xrpc/com.atproto.repo.deleteRecord",
                         { repo => $acct->{did}, collection => $coll, rkey => $rkey }, \%auth);
    $del_status{$st}++;
}
is_deeply(\%del_status, { 200 => scalar(@del) }, scalar(@del) . ' deleteRecord while full: all 200');
($s, $b) = http_json(POST => "$u/xrpc/com.atproto.admin.deleteAccount", { did => $gone->{did} },
                     { Authorization => PDSTest::basic_auth('admin', $pds->{admin}) });
is($s, 200, 'admin.deleteAccount while full: 200');
($s, $b) = http_json(GET => "$u/xrpc/com.atproto.repo.describeRepo?repo=$gone->{did}");
is("$s " . ($b->{error} // ''), '400 RepoNotFound', 'that account is gone');
my ($rkeyd) = $ok[-1]{uri} =~ m{/([^/]+)$};
($s, $b) = http_json(POST => "$u/xrpc/com.atproto.repo.applyWrites",
                     { repo => $acct->{did},
                       writes => [{ '$type' => 'com.atproto.repo.applyWrites#delete',
                                    collection => $coll, rkey => $rkeyd }] }, \%auth);
is($s, 200, 'applyWrites of a delete: 200');
my ($rkeyg) = $del[0]{uri} =~ m{/([^/]+)$};
($s, $b) = http_json(GET => "$u/xrpc/com.atproto.repo.getRecord?repo=$acct->{did}&collection=$coll&rkey=$rkeyg");
is("$s " . ($b->{error} // ''), '400 RecordNotFound', 'a deleted record is gone');

# ---- the freed pages take new writes again (the free-page count is kept a second)

my ($again, $tries) = (0, 0);
while ($tries++ < 40) {
    ($s, $b) = create("after-$tries");
    if ($s == 200) { $again = 1; last }
    is($s, 507, "a write before the freed pages are counted is refused cleanly ($tries)") if $s != 507;
    select undef, undef, undef, 0.25;
}
ok($again, "a new write succeeds after the deletions ($tries tries)");
# the other worker counts free pages for itself, at most a second late
for my $try (1 .. 12) {
    ($s, $b) = create("after-2-$try");
    last if $s != 507;
    select undef, undef, undef, 0.25;
}
is($s, 200, 'and another (in whichever worker, once it has counted)');
($s, $got) = http_json(GET => "$u/xrpc/com.atproto.repo.getRecord?repo=$acct->{did}&collection=$coll&rkey=$rkey0");
is($s, 200, 'the records not deleted are still there');

stop_all();
disk_full();
my $log = PDSTest::slurp($pds->{log});
like($log, qr/LMDB map of "[^"]+" is full .*raise pds_lmdb_map_size and reload nginx/,
     "the error log tells the operator to raise pds_lmdb_map_size");
my $told = () = $log =~ /LMDB map of "[^"]+" is full/g;
cmp_ok($told, '<=', 4, "at most once a minute per worker ($told)");
unlike($log, qr/\[(alert|emerg|crit)\]/, 'no alert');
is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes');
done_testing();


# ---- the disk full: a 40 MB tmpfs under the default 64 GB map (as root)

my $mounted;
END { system('umount', $mounted) if $mounted }

sub disk_full {
    SKIP: {
        skip 'the disk-full part mounts a tmpfs: root only', 9 unless $> == 0;
        my $dir = scratch_dir();
        mkdir "$dir/data" or die "$dir/data: $!";
        skip 'cannot mount a tmpfs here', 9
            if system('mount', '-t', 'tmpfs', '-o', 'size=40m,mode=0755', 'tmpfs', "$dir/data") != 0;
        $mounted = "$dir/data";
        my $p = start_pds(dir => $dir, workers => 2, config => "        pds_rate_limits off;\n")
            or BAIL_OUT('no second PDS');
        my $a = create_account($p, handle => 'disk.test');
        ok($a, 'disk: an account');
        my %h = (Authorization => "Bearer $a->{accessJwt}");
        my (@acks, %st);
        my @kids;
        for my $c (1 .. 4) {
            my $pid = fork() // die "fork: $!";
            if ($pid == 0) {
                my (@mine, $refused);
                for my $i (1 .. 600) {
                    my ($st, $b) = http_json(POST => "$p->{url}/xrpc/com.atproto.repo.createRecord",
                                             { repo => $a->{did}, collection => $coll,
                                               record => { '$type' => $coll, tag => "d$c-$i", pad => "$c $i $pad" } },
                                             \%h);
                    push @mine, { status => $st, uri => ref $b ? $b->{uri} : undef,
                                  error => ref $b ? $b->{error} : undef };
                    $refused = $st == 200 ? 0 : $refused + 1;
                    last if $refused >= 5;
                }
                open my $fh, '>', "$dir/disk$c.json" or POSIX::_exit(1);
                print $fh json()->encode(\@mine);
                close $fh;
                POSIX::_exit(0);
            }
            push @kids, $pid;
        }
        waitpid $_, 0 for @kids;
        @acks = map { @{ json()->decode(PDSTest::slurp("$dir/disk$_.json")) } } 1 .. 4;
        $st{"$_->{status} " . ($_->{error} // '')}++ for @acks;
        my @okd = grep { $_->{status} == 200 } @acks;
        note('disk: ' . join(', ', map { "$_: $st{$_}" } sort keys %st));
        ok($st{'507 StorageFull'}, 'disk: writes end with 507 StorageFull');
        is(scalar(grep { !/^(200 |507 StorageFull)$/ } keys %st), 0, 'disk: nothing else (no 500)');
        my %have;
        my ($cur, $n) = (undef, 0);
        do {
            my (undef, $page) = http_json(GET => "$p->{url}/xrpc/com.atproto.repo.listRecords?repo=$a->{did}"
                                          . "&collection=$coll&limit=100" . ($cur ? "&cursor=$cur" : ''));
            $have{$_->{uri}} = 1 for @{ ref $page ? $page->{records} : [] };
            $cur = ref $page && @{ $page->{records} } == 100 ? $page->{cursor} : undef;
        } while ($cur && ++$n < 100);
        is(scalar(grep { $have{$_->{uri}} } @okd), scalar(@okd),
           'disk: every acknowledged record (' . scalar(@okd) . ') is stored');
        my %del;
        for my $x (@okd[0 .. ($#okd > 150 ? 149 : $#okd)]) {
            my ($rkey) = $x->{uri} =~ m{/([^/]+)$};
            my ($s) = http_json(POST => "$p->{url}/xrpc/com.atproto.repo.deleteRecord",
                                { repo => $a->{did}, collection => $coll, rkey => $rkey }, \%h);
            $del{$s}++;
        }
        is_deeply([keys %del], [200], 'disk: deleteRecord while the disk is full: all 200');
        my ($again, $t) = (0, 0);
        while ($t++ < 40) {
            my ($s) = http_json(POST => "$p->{url}/xrpc/com.atproto.repo.createRecord",
                                { repo => $a->{did}, collection => $coll,
                                  record => { '$type' => $coll, tag => "again-$t" } }, \%h);
            if ($s == 200) { $again = 1; last }
            last if $s != 507;
            select undef, undef, undef, 0.25;
        }
        ok($again, "disk: a write runs again in the freed pages ($t tries)");
        stop_all();
        my $dlog = PDSTest::slurp($p->{log});
        like($dlog, qr/the disk of "[^"]+" is full .*free disk space/, 'disk: the log says to free disk space');
        is_deeply([log_problems($p->{log})], [], 'disk: no alerts or crashes');
        ok(system('umount', $mounted) == 0, 'disk: tmpfs unmounted');
        $mounted = undef;
    }
}
