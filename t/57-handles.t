# Handles on domains their users control (atproto specs/handle): the DID
# published as a DNS TXT record "_atproto.<handle>" (did=<did>) or as the
# document https://<handle>/.well-known/atproto-did.
#
# A real DNS server (dnsmasq, t/lib/PDSDns.pm) on 127.0.0.1 answers the
# test's names: TXT records, and the addresses of the handles' HTTPS hosts
# (127.0.0.57: a TLS server block of this nginx with a certificate of a
# test CA that "pds_outbound_ca_file" trusts; 127.0.0.58: a port that
# accepts connections and never answers).  It is both the tenant's
# "resolver" (the addresses of outbound hosts) and its
# "pds_handle_backup_nameservers" (the system's resolver knows none of
# these names, so TXT records are found there, after the HTTPS method, as
# in the reference's order).  The HTTPS hosts are loopback addresses, so
# "pds_disable_ssrf_protection on" is needed; https and certificate
# verification stay on.  Listening on port 443 needs root: without it the
# file skips.
#
# Checked: resolveHandle with TXT only, HTTPS only, both, neither, a TXT
# record that is not a DID, two did= records, a slow HTTPS host (the
# request fails after the 3 s timeout while the same worker answers other
# requests); updateHandle to a TXT-published domain and to an
# HTTPS-published one (each then resolvable through resolveHandle, in
# describeRepo, the PLC directory and the firehose's #identity event), to
# a domain that names another DID, and to one that names none;
# createAccount with an external handle (UnsupportedDomain without a DID);
# the same handles resolved by another client, @atproto/identity's
# HandleResolver pointed at the test's DNS server (t/js/handle_resolver.mjs);
# admin.updateAccountHandle to a user's domain.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use POSIX ();
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use PDSTest qw(start_pds http_json stop_all log_problems free_port create_account
               slurp write_file scratch_dir);
use PDSDns qw(start_dns stop_dns dnsmasq_bin);
use PDSFuzz qw(ws_open ws_frames ws_close);

plan skip_all => 'no dnsmasq (Debian package dnsmasq-base)' unless dnsmasq_bin();
plan skip_all => 'port 443 of a loopback address needs root' unless $> == 0;
-d 't/js/node_modules/@did-plc/server'
    or plan skip_all => 'no PLC directory (npm packages missing)';

my $dir = scratch_dir();
my $q = sub { system("$_[0] >/dev/null 2>&1") == 0 or die "failed: $_[0]" };

# ---- a test CA and a certificate for *.example.test
$q->("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=PDS-Handles-CA"
     . " -keyout $dir/ca.key -out $dir/ca.pem");
$q->("openssl req -newkey rsa:2048 -nodes -subj /CN=example.test"
     . " -keyout $dir/srv.key -out $dir/srv.csr");
write_file("$dir/san.ext", "subjectAltName=DNS:*.example.test,DNS:example.test\n");
$q->("openssl x509 -req -in $dir/srv.csr -CA $dir/ca.pem -CAkey $dir/ca.key"
     . " -CAcreateserial -days 2 -extfile $dir/san.ext -out $dir/srv.pem");

# ---- a certificate no CA of ours signed (a host that must not be believed)
$q->("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=untrusted.example.test"
     . " -addext subjectAltName=DNS:untrusted.example.test"
     . " -keyout $dir/bad.key -out $dir/bad.pem");

# ---- a host that accepts and never answers (the kernel completes the
# TCP handshake; TLS never starts)
my $slow = IO::Socket::INET->new(LocalAddr => '127.0.0.58', LocalPort => 443,
                                 Listen => 16, ReuseAddr => 1)
    or plan skip_all => "cannot listen on 127.0.0.58:443: $!";

mkdir "$dir/wk";
my $dnsport = free_port();

# A second tenant comes first in the configuration: its outbound locations
# load the CA store and the tested tenant's share that TLS context (and its
# verification), as every tenant after the first does.
my $port2 = free_port();
my $pds = start_pds(dir => $dir, http_config => <<"HTTP", config => <<"CONF")
    pds_outbound_ca_file $dir/ca.pem;
    server {
        listen 127.0.0.1:$port2;
        server_name first.test;
        pds_hostname first.test;
        pds_data_dir $dir/data-first;
        pds_admin_password first-admin;
        pds_jwt_secret first-jwt;
        pds_plc_rotation_key ${\('f1' x 32)};
        pds_plc_url http://127.0.0.1:9;
        pds_thread_pool pds;
        location / { pds; }
    }
    server {
        listen 127.0.0.60:443 ssl;
        server_name untrusted.example.test;
        ssl_certificate $dir/bad.pem;
        ssl_certificate_key $dir/bad.key;
        root $dir/wk;
        location = /.well-known/atproto-did {
            default_type text/plain;
            try_files /\$host =404;
        }
    }
    server {
        listen 127.0.0.57:443 ssl;
        server_name *.example.test;
        ssl_certificate $dir/srv.pem;
        ssl_certificate_key $dir/srv.key;
        root $dir/wk;
        location = /.well-known/atproto-did {
            default_type text/plain;
            try_files /\$host =404;
        }
    }
HTTP
        resolver 127.0.0.1:$dnsport;
        resolver_timeout 3s;
        pds_handle_domains .pds.test;
        pds_handle_backup_nameservers 127.0.0.1:$dnsport;
        pds_disable_ssrf_protection on;
        pds_rate_limits off;
CONF
    or plan skip_all => 'no PLC directory';
my $u = $pds->{url};

my $alice = create_account($pds, handle => 'alice.pds.test');
my $bob = create_account($pds, handle => 'bob.pds.test');
ok($alice && $bob, 'two accounts') or BAIL_OUT('no accounts');
my ($A, $B) = ($alice->{did}, $bob->{did});
my $other = 'did:plc:' . ('z' x 24);

# the well-known documents (the HTTPS method)
my %wk = ('https.example.test' => "$other\n",
          'untrusted.example.test' => "$other\n",
          'both.example.test' => "  $other  \n",
          'alice-https.example.test' => "$A\n",
          'html.example.test' => "<html>$other</html>\n");
write_file("$dir/wk/$_", $wk{$_}) for keys %wk;

my $dns = start_dns($dir, port => $dnsport,
    address => { 'example.test' => '127.0.0.57', 'slow.example.test' => '127.0.0.58',
                 'untrusted.example.test' => '127.0.0.60' },
    txt => { '_atproto.txt.example.test' => "did=$other",
             '_atproto.both.example.test' => "did=$other",
             '_atproto.notadid.example.test' => 'did=not-a-did',
             '_atproto.spf.example.test' => 'v=spf1 -all',
             '_atproto.alice-txt.example.test' => "did=$A",
             '_atproto.bobs.example.test' => "did=$B",
             '_atproto.two.example.test' => ["did=$A", "did=$B"] });

sub resolve {
    my ($h) = @_;
    return http_json(GET => "$u/xrpc/com.atproto.identity.resolveHandle?handle=$h");
}

sub unresolved {
    my ($h, $what) = @_;
    my ($s, $b) = resolve($h);
    is($s, 400, "resolveHandle $h ($what): 400");
    is_deeply($b, { error => 'InvalidRequest', message => 'Unable to resolve handle' },
              '... InvalidRequest "Unable to resolve handle" (the reference\'s answer)');
}

my ($s, $b);

# ---- resolveHandle
($s, $b) = resolve('txt.example.test');
is($s, 200, 'resolveHandle of a TXT-only handle: 200');
is_deeply($b, { did => $other }, '... its DID');
like(slurp($pds->{log}), qr/handle txt\.example\.test: \Q$other\E by DNS \(backup name servers\)/,
     '... found by DNS (the backup name servers)');
like(slurp($dns->{log}), qr/query\[TXT\] _atproto\.txt\.example\.test/,
     '... the DNS server was asked for TXT _atproto.txt.example.test');

($s, $b) = resolve('https.example.test');
is($s, 200, 'resolveHandle of an HTTPS-only handle: 200');
is_deeply($b, { did => $other }, '... its DID');
like(slurp($pds->{log}), qr/handle https\.example\.test: \Q$other\E by HTTPS/,
     '... by HTTPS, through a TLS context shared with the first tenant');
unresolved('untrusted.example.test', 'its certificate is signed by no CA we trust');
like(slurp($pds->{log}), qr/certificate verify failed|upstream SSL certificate verify error/,
     '... refused by certificate verification');
like(slurp($pds->{log}), qr/handle https\.example\.test: \Q$other\E by HTTPS/,
     '... found by HTTPS');

($s, $b) = resolve('both.example.test');
is($s, 200, 'resolveHandle of a handle with both: 200');
is_deeply($b, { did => $other }, '... its DID (the document\'s line trimmed)');

unresolved('neither.example.test', 'neither');
unresolved('notadid.example.test', 'a TXT record that is no DID');
unresolved('spf.example.test', 'a TXT record without did=');
unresolved('html.example.test', 'a document that is not a DID');
unresolved('two.example.test', 'two did= records');
like(slurp($dns->{log}), qr/_atproto\.two\.example\.test is <TXT>.*\n.*_atproto\.two\.example\.test is <TXT>/,
     '... the DNS server answered two TXT records');
unresolved('nowhere.invalid', 'a name that does not exist');

($s, $b) = resolve('nobody.pds.test');
is($s, 400, 'an unknown handle of the service: 400');
is($b->{error}, 'HandleNotFound', '... HandleNotFound, not looked up');
($s, $b) = resolve('pds.test');
is($b->{error}, 'HandleNotFound', 'the handle domain itself: HandleNotFound');

# ---- a slow host: fails after the timeout, the worker keeps serving
my $t0 = time;
my $pid = fork() // die "fork: $!";
if ($pid == 0) {
    my ($cs, $cb) = resolve('slow.example.test');
    write_file("$dir/slow.out", sprintf("%d %s %.2f", $cs, $cb->{message} // '', time - $t0));
    POSIX::_exit(0);
}
sleep 0.3;
my ($fast, $worst) = (0, 0);
for (1 .. 10) {
    my $t1 = time;
    my ($hs) = http_json(GET => "$u/xrpc/com.atproto.server.describeServer");
    my $dt = time - $t1;
    $worst = $dt if $dt > $worst;
    $fast++ if $hs == 200 && $dt < 0.5;
    sleep 0.1;
}
is($fast, 10, sprintf('describeServer answered 10 times within 0.5 s while the slow '
                      . 'handle resolved (worst %.3f s)', $worst));
waitpid $pid, 0;
my ($ss, $sm, $st) = slurp("$dir/slow.out") =~ /^(\d+) (.*) ([\d.]+)$/;
is($ss, 400, 'resolveHandle of a handle whose host never answers: 400');
is($sm, 'Unable to resolve handle', '... "Unable to resolve handle"');
ok($st >= 2.5 && $st < 10, "... after the 3 s timeout (took $st s)");

# ---- updateHandle
sub update {
    my ($acct, $h) = @_;
    return http_json(POST => "$u/xrpc/com.atproto.identity.updateHandle", { handle => $h },
                     { Authorization => "Bearer $acct->{accessJwt}" });
}

($s, $b) = update($alice, 'bobs.example.test');
is($s, 400, 'updateHandle to a domain naming another DID: 400');
is_deeply($b, { error => 'InvalidRequest', message => 'External handle did not resolve to DID' },
          '... InvalidRequest "External handle did not resolve to DID"');
($s, $b) = update($alice, 'neither.example.test');
is_deeply([$s, $b], [400, { error => 'InvalidRequest', message => 'External handle did not resolve to DID' }],
          'updateHandle to a domain naming no DID: the same');

for my $case (['alice-txt.example.test', 'TXT'], ['alice-https.example.test', 'HTTPS']) {
    my ($h, $how) = @$case;
    ($s, $b) = update($alice, $h);
    is($s, 200, "updateHandle to a $how-published domain ($h): 200");
    ($s, $b) = resolve($h);
    is_deeply([$s, $b], [200, { did => $A }], '... resolveHandle answers the DID');
    ($s, $b) = http_json(GET => "$u/xrpc/com.atproto.repo.describeRepo?repo=$A");
    is($b->{handle}, $h, '... describeRepo names the handle');
    ok($b->{handleIsCorrect}, '... handleIsCorrect') if exists $b->{handleIsCorrect};
    ($s, $b) = http_json(GET => "$pds->{plc}/$A/data");
    is_deeply($b->{alsoKnownAs}, ["at://$h"], '... the PLC directory has the handle');
}

# the same handles resolved by another client: @atproto/identity
SKIP: {
    skip 'no @atproto/identity in t/js (npm packages missing)', 1
        unless -d 't/js/node_modules/@atproto/identity';
    local $ENV{NODE_EXTRA_CA_CERTS} = "$dir/ca.pem";
    PDSTest::node_tap('handle_resolver.mjs', DNS => "127.0.0.1:$dnsport", DID => $A,
                      TXT_HANDLE => 'alice-txt.example.test', HTTPS_HANDLE => 'alice-https.example.test',
                      OTHER_HANDLE => 'bobs.example.test', NONE_HANDLE => 'neither.example.test');
}

my ($ws, $why) = ws_open($pds->{port}, 'localhost', '?cursor=0');
ok($ws, 'subscribeRepos from cursor 0') or diag $why;
my @frames = $ws ? map { $_->[1] } grep { $_->[0] == 2 } ws_frames($ws, 1.5) : ();
ws_close($ws) if $ws;
for my $h ('alice-txt.example.test', 'alice-https.example.test') {
    ok((grep { index($_, '#identity') >= 0 && index($_, $A) >= 0 && index($_, $h) >= 0 } @frames),
       "the firehose has an #identity event of $A with $h");
}

($s, $b) = update($bob, 'alice-https.example.test');
is($s, 400, 'another account claims a handle taken here: 400');
is($b->{message}, 'External handle did not resolve to DID',
   '... it does not resolve to its DID (checked first, as the reference)');

($s, $b) = update($alice, 'alice.pds.test');
is($s, 200, 'back to a handle of the service: 200');

# ---- the operator's admin.updateAccountHandle resolves a user's domain too
sub admin_update {
    my ($did, $h) = @_;
    return http_json(POST => "$u/xrpc/com.atproto.admin.updateAccountHandle",
                     { did => $did, handle => $h },
                     { Authorization => PDSTest::basic_auth('admin', $pds->{admin}) });
}
($s, $b) = admin_update($A, 'bobs.example.test');
is_deeply([$s, $b], [400, { error => 'InvalidRequest', message => 'External handle did not resolve to DID' }],
          'admin.updateAccountHandle to a domain naming another DID: 400, as the reference');
($s, $b) = admin_update($A, 'alice-txt.example.test');
is($s, 200, 'admin.updateAccountHandle to a domain naming the account: 200');
($s, $b) = http_json(GET => "$pds->{plc}/$A/data");
is_deeply($b->{alsoKnownAs}, ['at://alice-txt.example.test'], '... the PLC directory has it');
($s, $b) = admin_update($A, 'alice.pds.test');
is($s, 200, '... and back');

# ---- createAccount with an external handle
($s, $b) = http_json(POST => "$u/xrpc/com.atproto.server.createInviteCode", { useCount => 1 },
                     { Authorization => PDSTest::basic_auth('admin', $pds->{admin}) });
($s, $b) = http_json(POST => "$u/xrpc/com.atproto.server.createAccount",
                     { handle => 'carol.example.test', email => 'carol@example.com',
                       password => 'carol-password', inviteCode => $b->{code} });
is($s, 400, 'createAccount with an external handle and no DID: 400');
is($b->{error}, 'UnsupportedDomain', '... UnsupportedDomain (the reference\'s)');

# ---- what nginx -t refuses
for my $case (['::1', qr/"::1" is not an IPv4 address/, 'an IPv6 address'],
              ['ns.example.net', qr/"ns\.example\.net" is not an IPv4 address/, 'a name'],
              ['127.0.0.1 127.0.0.2 127.0.0.3 127.0.0.4', qr/takes at most 3 name servers/,
               'four name servers'])
{
    my ($arg, $re, $what) = @$case;
    my $cdir = scratch_dir();
    my $conf = slurp("$dir/nginx.conf");
    $conf =~ s/pds_handle_backup_nameservers [^;]*;/pds_handle_backup_nameservers $arg;/
        or die 'no directive to replace';
    $conf =~ s{pds_data_dir \S+;}{pds_data_dir $cdir/data;};
    $conf =~ s{listen 127\.0\.0\.57:443 ssl;}{listen 127.0.0.1:@{[free_port()]} ssl;};
    my ($rc, $out) = PDSTest::nginx_test($cdir, $conf);
    ok($rc != 0 && $out =~ $re, "nginx -t refuses pds_handle_backup_nameservers with $what")
        or diag $out;
}

is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes in the error log');
close $slow;
stop_dns($dns);
stop_all();
done_testing();
