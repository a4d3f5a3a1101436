# tools/pdsadmin (bash, curl, jq) against a running PDS: account list
# (handles, emails, DIDs, statuses, paging past 100 accounts with
# listRepos' cursor), account create, takedown / untakedown (login refused,
# then restored), reset-password (the old password refused, the printed
# one works), delete (gone from the list and from getAccountInfo), info,
# create-invite-code; usage errors exit 2 and server errors exit 1 with the
# server's error printed.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use PDSTest qw(start_pds http_json stop_all log_problems create_account
               basic_auth);

for my $tool (qw(curl jq openssl base32)) {
    plan skip_all => "$tool is not installed" unless `command -v $tool 2>/dev/null`;
}

# 106 accounts in a minute from one address are over the reference's createAccount
# limit (100 per 5 minutes), which t/61 checks: off here
my $pds = start_pds(config => 'pds_rate_limits off;') or plan skip_all => 'no PLC directory (npm packages missing)';
my $u = $pds->{url};
my $dir = tempdir(CLEANUP => 1);
my $pwfile = "$dir/admin_password";
open my $fh, '>', $pwfile or die $!;
print $fh "$pds->{admin}\n";
close $fh;

# runs pdsadmin; returns (exit status, stdout, stderr)
sub pdsadmin {
    my (@args) = @_;
    my $cmd = join ' ', 'tools/pdsadmin', '--url', $u, '--admin-password-file', $pwfile,
                        map { "'$_'" } @args;
    my $out = `$cmd 2>$dir/stderr`;
    my $rc = $? >> 8;
    open my $e, '<', "$dir/stderr" or die $!;
    local $/;
    my $err = <$e> // '';
    close $e;
    return ($rc, $out, $err);
}

sub login {
    my ($id, $pw) = @_;
    my ($s, $b) = http_json(POST => "$u/xrpc/com.atproto.server.createSession",
                            { identifier => $id, password => $pw });
    return ($s, $b);
}

my ($rc, $out, $err, $s, $b);

($rc, $out) = pdsadmin('--help');
is($rc, 0, '--help exits 0');
like($out, qr/account list/, '--help lists the verbs');
($rc, $out, $err) = pdsadmin('account', 'frobnicate');
is($rc, 2, 'an unknown verb exits 2');
($rc, $out, $err) = pdsadmin('account', 'delete', 'not-a-did');
is($rc, 2, 'a malformed DID exits 2');

# ---- create, list
($rc, $out, $err) = pdsadmin('account', 'create', 'jolene@example.com', 'jolene.test');
is($rc, 0, 'account create') or diag $err;
my ($jo_did) = $out =~ /^DID:\s+(\S+)/m;
my ($jo_pw) = $out =~ /^Password:\s+(\S+)/m;
ok($jo_did && $jo_pw, 'prints the DID and a password');
($s, $b) = login('jolene.test', $jo_pw);
is($s, 200, 'the printed password logs in');

my $kim = create_account($pds, handle => 'kim.test', password => 'kim-password');
ok($kim, 'another account');

($rc, $out, $err) = pdsadmin('account', 'list');
is($rc, 0, 'account list') or diag $err;
like($out, qr/^jolene\.test\s+jolene\@example\.com\s+\Q$jo_did\E\s+active$/m, 'lists jo: handle, email, DID, active');
like($out, qr/^kim\.test\s+kim\@example\.com\s+\Q$kim->{did}\E\s+active$/m, 'lists kim');

($rc, $out, $err) = pdsadmin('account', 'info', $jo_did);
is($rc, 0, 'account info');
like($out, qr/"handle": "jolene\.test"/, 'info gives the AccountView');

# ---- takedown
($rc, $out, $err) = pdsadmin('account', 'takedown', $jo_did);
is($rc, 0, 'account takedown') or diag $err;
($s, $b) = login('jolene.test', $jo_pw);
is_deeply([$s, $b->{error}], [401, 'AccountTakedown'], 'then login: 401 AccountTakedown');
($rc, $out) = pdsadmin('account', 'list');
like($out, qr/^jolene\.test\s+\S+\s+\Q$jo_did\E\s+takendown$/m, 'list shows takendown');
($rc, $out, $err) = pdsadmin('account', 'untakedown', $jo_did);
is($rc, 0, 'account untakedown') or diag $err;
($s, $b) = login('jolene.test', $jo_pw);
is($s, 200, 'login restored');
my $jo_refresh = $b->{refreshJwt};

# ---- reset-password
($rc, $out, $err) = pdsadmin('account', 'reset-password', $jo_did);
is($rc, 0, 'account reset-password') or diag $err;
my ($new_pw) = $out =~ /: (\S+)$/m;
ok($new_pw && $new_pw ne $jo_pw, 'prints a new password');
($s, $b) = login('jolene.test', $jo_pw);
is($s, 401, 'the old password is refused');
($s, $b) = http_json(POST => "$u/xrpc/com.atproto.server.refreshSession", undef,
                     { Authorization => "Bearer $jo_refresh" });
is_deeply([$s, $b->{error}], [400, 'ExpiredToken'], 'the earlier session ended');
($s, $b) = login('jolene.test', $new_pw);
is($s, 200, 'the new password works');

# ---- delete
($rc, $out, $err) = pdsadmin('account', 'delete', $jo_did);
is($rc, 0, 'account delete') or diag $err;
($rc, $out) = pdsadmin('account', 'list');
unlike($out, qr/\Q$jo_did\E/, 'no longer listed');
like($out, qr/kim\.test/, 'kim still is');
($rc, $out, $err) = pdsadmin('account', 'info', $jo_did);
is($rc, 1, 'account info of a deleted account exits 1');
like($err, qr/400 NotFound: Account not found/, 'with the server\'s error');

# ---- errors
{
    open my $w, '>', "$dir/wrong" or die $!;
    print $w "wrong-password\n";
    close $w;
    my $out2 = `tools/pdsadmin --url $u --admin-password-file $dir/wrong account info $kim->{did} 2>&1`;
    is($? >> 8, 1, 'a wrong admin password exits 1');
    like($out2, qr/401 AuthenticationRequired/, 'and prints the 401');
}

# ---- invite codes, paging past 100
($rc, $out, $err) = pdsadmin('create-invite-code', 3);
is($rc, 0, 'create-invite-code');
chomp(my $code = $out);
like($code, qr/-[a-z2-7]{5}-[a-z2-7]{5}$/, 'prints a code');

my $made = 0;
for my $i (1 .. 105) {
    $made++ if create_account($pds, handle => "page$i.test");
}
is($made, 105, '105 more accounts');
($rc, $out, $err) = pdsadmin('account', 'list');
is($rc, 0, 'account list over 100 accounts') or diag $err;
my @rows = grep { /\bdid:/ } split /\n/, $out;
is(scalar @rows, 106, 'every account listed (two listRepos pages)');
($rc, $out) = pdsadmin('account', 'list', '--limit', 5);
@rows = grep { /\bdid:/ } split /\n/, $out;
is(scalar @rows, 5, '--limit 5');

is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes in the error log');
stop_all();
done_testing();
