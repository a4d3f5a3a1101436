# tools/pdsadmin against a two-tenant nginx, the way a hosting provider
# runs it: one nginx, one port, two server blocks chosen by host name
# (alpha.localhost and beta.localhost, which curl resolves to loopback by
# itself), each with its own admin password and data directory.  Every verb
# is run against each tenant by its URL and acts on that tenant only:
# accounts created, listed, taken down, reset and deleted in one are not
# seen in the other; one tenant's admin password is refused by the other;
# a hot backup of one tenant, taken while the other is written to, restores
# into a fresh directory that a second nginx serves with that tenant's
# accounts only.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use POSIX ();
use PDSTest qw(scratch_dir start_nginx start_plc free_port http_json stop_all
               log_problems module_path write_file);
use PDSFuzz qw(tenant_conf);

for my $tool (qw(curl jq openssl base32)) {
    plan skip_all => "$tool is not installed" unless `command -v $tool 2>/dev/null`;
}
my $module = module_path();
plan skip_all => "no module at $module (run make)" unless -f $module;
my $build = $ENV{PDS_BUILD_DIR} || 'build';

my $dir = scratch_dir();
my $plc = start_plc($dir) or plan skip_all => 'no PLC directory (npm packages missing)';
my $port = free_port();

my %T = (
    alpha => { hostname => 'alpha.localhost', domain => '.alpha.test', admin => "alpha-admin-$$",
               jwt => "alpha-jwt-$$", key => 'a1' x 32 },
    beta  => { hostname => 'beta.localhost', domain => '.beta.test', admin => "beta-admin-$$",
               jwt => "beta-jwt-$$", key => 'b2' x 32 },
);
my $conf = <<"END";
load_module $module;
worker_processes 2;
error_log $dir/logs/error.log info;
pid $dir/nginx.pid;
thread_pool pds threads=2;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $dir/tmp;
END
$conf .= tenant_conf(%{ $T{$_} }, name => $_, port => $port, plc => $plc, dir => $dir)
    for qw(alpha beta);
$conf .= "}\n";
start_nginx($dir, $conf, $port);

for my $n (qw(alpha beta)) {
    $T{$n}{url} = "http://$T{$n}{hostname}:$port";
    $T{$n}{pwfile} = "$dir/$n-admin-password";
    write_file($T{$n}{pwfile}, "$T{$n}{admin}\n");
}

# runs pdsadmin for tenant $n (or with %o's url / password file);
# returns (exit status, stdout, stderr)
sub pdsadmin {
    my ($n, @args) = @_;
    my %o = ref $args[0] eq 'HASH' ? %{ shift @args } : ();
    my $cmd = join ' ', 'tools/pdsadmin', '--url', $o{url} // $T{$n}{url},
                        '--admin-password-file', $o{pwfile} // $T{$n}{pwfile},
                        map { "'$_'" } @args;
    my $out = `PDS_BACKUP=$build/pds-backup $cmd 2>$dir/stderr`;
    my $rc = $? >> 8;
    my $err = do { local $/; open my $e, '<', "$dir/stderr" or die $!; <$e> // '' };
    return ($rc, $out, $err);
}

sub login {
    my ($n, $id, $pw) = @_;
    return http_json(POST => "http://127.0.0.1:$port/xrpc/com.atproto.server.createSession",
                     { identifier => $id, password => $pw }, { Host => "$T{$n}{hostname}:$port" });
}

sub listed {
    my ($n) = @_;
    my ($rc, $out, $err) = pdsadmin($n, 'account', 'list');
    is($rc, 0, "$n: account list") or diag $err;
    return { map { (split /\s+/)[2] => $_ } grep { /\bdid:/ } split /\n/, $out };
}

my ($rc, $out, $err, $s, $b);

# ---- create in each, by its URL
my %acc;    # name -> [ { did, password, handle } ]
for my $n (qw(alpha beta)) {
    for my $who (qw(ann bob)) {
        my $handle = "$who$T{$n}{domain}";
        ($rc, $out, $err) = pdsadmin($n, 'account', 'create', "$who\@$n.example.com", $handle);
        is($rc, 0, "$n: account create $handle") or diag $err;
        my ($did) = $out =~ /^DID:\s+(\S+)/m;
        my ($pw) = $out =~ /^Password:\s+(\S+)/m;
        ok($did && $pw, "$n: prints $handle\'s DID and password");
        push @{ $acc{$n} }, { did => $did // '', password => $pw // '', handle => $handle };
    }
}

# ---- list: each tenant its own accounts only
for my $n (qw(alpha beta)) {
    my $other = $n eq 'alpha' ? 'beta' : 'alpha';
    my $l = listed($n);
    is(scalar keys %$l, 2, "$n: two accounts listed");
    ok($l->{ $_->{did} }, "$n: lists $_->{handle}") for @{ $acc{$n} };
    ok(!$l->{ $_->{did} }, "$n: does not list $other\'s $_->{handle}") for @{ $acc{$other} };
}

# ---- a tenant's admin password is refused by the other tenant
($rc, $out, $err) = pdsadmin('beta', { pwfile => $T{alpha}{pwfile} }, 'account', 'list');
is($rc, 1, "alpha's admin password against beta exits 1");
like($err, qr/401 AuthenticationRequired/, 'with the 401');

# ---- info, takedown of a DID of the other tenant: not found there
my $a_ann = $acc{alpha}[0];
my $b_ann = $acc{beta}[0];
($rc, $out, $err) = pdsadmin('beta', 'account', 'info', $a_ann->{did});
is($rc, 1, "beta: info of alpha's account exits 1");
like($err, qr/400 NotFound/, 'as for an unknown DID');
($rc, $out, $err) = pdsadmin('alpha', 'account', 'info', $a_ann->{did});
is($rc, 0, "alpha: info of its own account");
like($out, qr/"handle": "\Q$a_ann->{handle}\E"/, 'with its handle');

# ---- takedown / untakedown in alpha; beta's accounts untouched
($rc, $out, $err) = pdsadmin('alpha', 'account', 'takedown', $a_ann->{did});
is($rc, 0, 'alpha: account takedown') or diag $err;
($s, $b) = login('alpha', $a_ann->{handle}, $a_ann->{password});
is_deeply([$s, $b->{error}], [401, 'AccountTakedown'], 'alpha: the taken-down account cannot log in');
($s, $b) = login('beta', $b_ann->{handle}, $b_ann->{password});
is($s, 200, 'beta: its account still logs in');
like(listed('alpha')->{ $a_ann->{did} } // '', qr/\btakendown$/, 'alpha: list shows takendown');
unlike(join("\n", values %{ listed('beta') }), qr/takendown/, 'beta: nothing taken down');
($rc, $out, $err) = pdsadmin('alpha', 'account', 'untakedown', $a_ann->{did});
is($rc, 0, 'alpha: account untakedown') or diag $err;
($s, $b) = login('alpha', $a_ann->{handle}, $a_ann->{password});
is($s, 200, 'alpha: login restored');

# ---- reset-password in beta
($rc, $out, $err) = pdsadmin('beta', 'account', 'reset-password', $b_ann->{did});
is($rc, 0, 'beta: account reset-password') or diag $err;
my ($new_pw) = $out =~ /: (\S+)$/m;
ok($new_pw && $new_pw ne $b_ann->{password}, 'beta: prints a new password');
($s) = login('beta', $b_ann->{handle}, $b_ann->{password});
is($s, 401, 'beta: the old password is refused');
($s) = login('beta', $b_ann->{handle}, $new_pw // '');
is($s, 200, 'beta: the new one works');
($s) = login('alpha', $a_ann->{handle}, $a_ann->{password});
is($s, 200, "alpha: its account's password is unchanged");

# ---- create-invite-code: a code of one tenant is refused by the other
($rc, $out, $err) = pdsadmin('alpha', 'create-invite-code');
is($rc, 0, 'alpha: create-invite-code') or diag $err;
chomp(my $code = $out);
($s, $b) = http_json(POST => "http://127.0.0.1:$port/xrpc/com.atproto.server.createAccount",
                     { handle => 'cyd.beta.test', email => 'cyd@beta.example.com',
                       password => 'cy-password', inviteCode => $code },
                     { Host => "$T{beta}{hostname}:$port" });
is_deeply([$s, $b->{error}], [400, 'InvalidInviteCode'], "beta refuses alpha's invite code")
    or diag explain $b;

# ---- hot backup of alpha while beta is written to
my $writes = 0;
my $bk = "$dir/alpha-backup";
{
    my ($ls, $lb) = login('beta', $acc{beta}[1]{handle}, $acc{beta}[1]{password});
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        my $n = 0;
        for my $i (1 .. 200) {    # bounded: stops by itself
            my ($ws) = http_json(POST => "http://127.0.0.1:$port/xrpc/com.atproto.repo.createRecord",
                                 { repo => $lb->{did}, collection => 'app.bsky.feed.post',
                                   record => { '$type' => 'app.bsky.feed.post', text => "w$i",
                                               createdAt => '2026-12-06T00:00:00.000Z' } },
                                 { Host => "$T{beta}{hostname}:$port",
                                   Authorization => "Bearer $lb->{accessJwt}" });
            $n++ if $ws == 200;
        }
        POSIX::_exit($n == 200 ? 0 : 1);    # no END blocks: they stop the servers
    }
    ($rc, $out, $err) = pdsadmin('alpha', 'backup', "$dir/data-alpha", $bk);
    is($rc, 0, 'alpha: backup while beta is written to') or diag $err;
    waitpid $pid, 0;
    is($?, 0, 'beta: 200 writes acknowledged meanwhile');
}
ok(-f "$bk/lmdb/data.mdb", 'the backup has a database');

# restore into a fresh directory; a second nginx serves it as alpha
my $restored = "$dir/data-restored";
($rc, $out, $err) = pdsadmin('alpha', 'restore', $bk, $restored);
is($rc, 0, 'restore into a fresh directory') or diag $err;
{
    my $dir2 = scratch_dir();
    my $port2 = free_port();
    my %t = (%{ $T{alpha} }, name => 'x', port => $port2, plc => $plc, dir => $dir2);
    my $c2 = tenant_conf(%t);
    $c2 =~ s{pds_data_dir \S+;}{pds_data_dir $restored;};
    start_nginx($dir2, <<"END" . $c2 . "}\n", $port2);
load_module $module;
worker_processes 1;
error_log $dir2/logs/error.log info;
pid $dir2/nginx.pid;
thread_pool pds threads=2;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $dir2/tmp;
END
    my $l = listed_at("http://alpha.localhost:$port2");
    is(scalar keys %$l, 2, 'the restored tenant lists two accounts');
    ok($l->{ $_->{did} }, "restored: lists $_->{handle}") for @{ $acc{alpha} };
    ok(!$l->{ $_->{did} }, "restored: no $_->{handle} of beta") for @{ $acc{beta} };
    is_deeply([log_problems("$dir2/logs/error.log")], [], 'restored nginx: no alerts or crashes');
}

sub listed_at {
    my ($url) = @_;
    my ($rc2, $o, $e) = pdsadmin('alpha', { url => $url }, 'account', 'list');
    is($rc2, 0, "account list at $url") or diag $e;
    return { map { (split /\s+/)[2] => $_ } grep { /\bdid:/ } split /\n/, $o };
}

# ---- delete in alpha; beta keeps its accounts
($rc, $out, $err) = pdsadmin('alpha', 'account', 'delete', $a_ann->{did});
is($rc, 0, 'alpha: account delete') or diag $err;
my $la = listed('alpha');
ok(!$la->{ $a_ann->{did} }, 'alpha: the deleted account is gone');
is(scalar keys %$la, 1, 'alpha: one account left');
($rc, $out, $err) = pdsadmin('beta', 'account', 'delete', $a_ann->{did});
is($rc, 0, "beta: delete of alpha's (now unknown) DID answers as for an unknown DID");
is(scalar keys %{ listed('beta') }, 2, 'beta: both accounts still there');

is_deeply([log_problems("$dir/logs/error.log")], [], 'no alerts or crashes in the error log');
stop_all();
done_testing();
