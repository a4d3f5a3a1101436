# Durability of the whole server: nginx (master and both workers) is killed
# with SIGKILL at a random moment while 8 clients write (createRecord with
# real sessions, two clients per account), several rounds.  After each
# restart every write that was acknowledged (200 with uri and cid) reads
# back with getRecord with its CID and text, the repos are whole
# (getLatestCommit, listRecords) and writes go on; at the end every repo is
# exported with com.atproto.sync.getRepo and verified with @atproto/repo
# (t/js/server_kill_verify.mjs), every acknowledged write in it.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use POSIX ();
use IO::Handle;
use Time::HiRes qw(time sleep);
use PDSTest qw(start_pds start_nginx stop_all http_json basic_auth log_problems
               slurp json node_tap wait_port);
use PDSFuzz qw(kill_tree process_tree);

my $rounds = $ENV{PDS_KILL_ROUNDS} || 5;
my $budget = $ENV{PDS_KILL_SECONDS} || 75;    # the rounds stop early past this
my ($accounts, $per_account) = (4, 2);        # 8 writers

my $pds = start_pds(workers => 2, extra => 'pds_rate_limits off;')
    or plan skip_all => 'no PLC directory (npm packages missing)';
my $dir = $pds->{dir};
my $u = $pds->{url};
my $conf = slurp("$dir/nginx.conf");
my $t0 = time;

my @acc;
for my $i (1 .. $accounts) {
    my (undef, $inv) = http_json(POST => "$u/xrpc/com.atproto.server.createInviteCode",
                                 { useCount => 1 },
                                 { Authorization => basic_auth('admin', $pds->{admin}) });
    my ($s, $a) = http_json(POST => "$u/xrpc/com.atproto.server.createAccount",
                            { handle => "kill$i.test", email => "kill$i\@example.com",
                              password => "kill-password-$i", inviteCode => $inv->{code} });
    is($s, 200, "account kill$i.test") or BAIL_OUT('no account');
    push @acc, $a;
}

sub nginx_master {
    my $pid = slurp("$dir/nginx.pid");
    chomp $pid;
    return $pid;
}

# One writer: createRecord until the server is gone (3 connection failures
# in a row) or the deadline; each acknowledged write appended to its file
# at once (so a write is on record before the next is sent).
sub writer {
    my ($c, $round, $a, $deadline) = @_;
    open my $fh, '>>', "$dir/acks-$c.jsonl" or die;
    $fh->autoflush(1);
    my ($fails, $i, $unknown) = (0, 0, 0);
    while (time < $deadline && $fails < 3) {
        $i++;
        my $text = "writer $c round $round write $i";
        my ($st, $b) = http_json(POST => "$u/xrpc/com.atproto.repo.createRecord",
                                 { repo => $a->{did}, collection => 'app.bsky.feed.post',
                                   record => { '$type' => 'app.bsky.feed.post', text => $text,
                                               createdAt => '2026-01-01T00:00:00.000Z' } },
                                 { Authorization => "Bearer $a->{accessJwt}" });
        if ($st == 200 && ref $b && $b->{uri} && $b->{cid}) {
            print $fh json()->encode({ did => $a->{did}, uri => $b->{uri}, cid => $b->{cid},
                                       text => $text, round => $round }), "\n";
            $fails = 0;
        } elsif ($st == 599 || !$st) {
            $fails++;
            $unknown++;
            sleep 0.05;
        } else {
            # an answer that is not a success: after a kill only 5xx-free
            # refusals are expected (none, in fact)
            print $fh json()->encode({ did => $a->{did}, status => $st, round => $round,
                                       error => ref $b ? $b->{error} : substr($b // '', 0, 100) }), "\n";
            $fails++ if $st >= 500;
        }
    }
    close $fh;
    POSIX::_exit(0);
}

my (%acked, %checked);     # uri -> {cid, text, did}
my @bad_answers;

for my $round (1 .. $rounds) {
    my $left = $budget - (time - $t0);
    if ($left < 8) {
        diag "round $round skipped: the time budget is spent";
        last;
    }
    ok(wait_port($pds->{port}, 10), "round $round: nginx listens");
    # a session per account for this round (tokens outlive restarts, but
    # take fresh ones as a client would)
    for my $i (0 .. $#acc) {
        my ($s, $sess) = http_json(POST => "$u/xrpc/com.atproto.server.createSession",
                                   { identifier => $acc[$i]{did}, password => "kill-password-" . ($i + 1) });
        $acc[$i]{accessJwt} = $sess->{accessJwt} if $s == 200;
    }
    my $deadline = time + 8;
    my @pids;
    for my $c (1 .. $accounts * $per_account) {
        my $pid = fork() // die "fork: $!";
        writer($c, $round, $acc[($c - 1) % $accounts], $deadline) if $pid == 0;
        push @pids, $pid;
    }
    my $delay = 0.5 + rand 2.5;
    sleep $delay;
    my $master = nginx_master();
    my @killed = kill_tree($master);
    waitpid $master, 0;
    waitpid $_, 0 for @pids;
    my $new = 0;
    for my $c (1 .. $accounts * $per_account) {
        for my $line (split /\n/, slurp("$dir/acks-$c.jsonl")) {
            my $a = json()->decode($line);
            if ($a->{uri}) {
                $new++ unless $acked{ $a->{uri} };
                $acked{ $a->{uri} } = $a;
            } elsif ($a->{status} && $a->{round} == $round) {
                push @bad_answers, $a;
            }
        }
    }
    my $until = time + 3;
    sleep 0.05 while living(@killed) && time < $until;
    ok(!living(@killed), sprintf('round %d: killed master %d and %d workers after %.2fs with %d writes acknowledged',
                                  $round, $master, scalar(@killed) - 1, $delay, $new));
    ok($new > 0, "round $round: writes were acknowledged before the kill");

    # back up, and every acknowledged write is there
    start_nginx($dir, $conf, $pds->{port});
    my @missing;
    for my $uri (sort keys %acked) {
        next if $checked{$uri};
        my $a = $acked{$uri};
        my ($repo, $coll, $rkey) = $uri =~ m{^at://([^/]+)/([^/]+)/([^/]+)$};
        my ($s, $r) = http_json(GET => "$u/xrpc/com.atproto.repo.getRecord?repo=$repo&collection=$coll&rkey=$rkey");
        if ($s == 200 && ($r->{cid} // '') eq $a->{cid} && ($r->{value}{text} // '') eq $a->{text}) {
            $checked{$uri} = 1;
        } else {
            push @missing, "$uri: $s " . (ref $r ? ($r->{cid} // $r->{error} // '') : '');
        }
    }
    ok(!@missing, "round $round: every acknowledged write reads back with its CID (" . scalar(keys %checked) . ' so far)')
        or diag join "\n", @missing[0 .. ($#missing < 9 ? $#missing : 9)];

    # each repo: its head, and listRecords has all its acknowledged records
    for my $a (@acc) {
        my ($s, $lc) = http_json(GET => "$u/xrpc/com.atproto.sync.getLatestCommit?did=$a->{did}");
        my %stored;
        my $cursor;
        do {
            my $q = "repo=$a->{did}&collection=app.bsky.feed.post&limit=100" . ($cursor ? "&cursor=$cursor" : '');
            my ($ls, $page) = http_json(GET => "$u/xrpc/com.atproto.repo.listRecords?$q");
            $stored{ $_->{uri} } = $_->{cid} for @{ ref $page ? $page->{records} || [] : [] };
            $cursor = ref $page && @{ $page->{records} || [] } == 100 ? $page->{cursor} : undef;
        } while ($cursor);
        my @mine = grep { $acked{$_}{did} eq $a->{did} } keys %acked;
        my @lost = grep { ($stored{$_} // '') ne $acked{$_}{cid} } @mine;
        ok($s == 200 && !@lost,
           "round $round: $a->{handle}: head $lc->{rev}, listRecords has all " . scalar(@mine) . ' acknowledged records')
            or diag "lost: @lost[0 .. ($#lost < 4 ? $#lost : 4)]";
    }
}

# processes of a list that are still running (not gone, not zombies)
sub living {
    return grep {
        my $st = slurp("/proc/$_/stat");
        length $st && $st !~ /^\d+ \(.*\) [ZX] /s;
    } @_;
}

ok(!@bad_answers, 'no writer got an error answer (only successes or no answer at all)')
    or diag join "\n", map { "round $_->{round}: $_->{status} $_->{error}" } @bad_answers[0 .. ($#bad_answers < 9 ? $#bad_answers : 9)];
ok(keys(%acked) >= 50, scalar(keys %acked) . ' writes acknowledged in all');

# the nginx of the last restart: writes go on, and the repos verify with
# @atproto/repo
{
    my $a = $acc[0];
    my ($s, $sess) = http_json(POST => "$u/xrpc/com.atproto.server.createSession",
                               { identifier => $a->{did}, password => 'kill-password-1' });
    my ($s2, $b) = http_json(POST => "$u/xrpc/com.atproto.repo.createRecord",
                             { repo => $a->{did}, collection => 'app.bsky.feed.post',
                               record => { '$type' => 'app.bsky.feed.post', text => 'after the kills',
                                           createdAt => '2026-01-01T00:00:00.000Z' } },
                             { Authorization => "Bearer $sess->{accessJwt}" });
    is($s2, 200, 'a write after the last restart');
    $acked{ $b->{uri} } = { did => $a->{did}, cid => $b->{cid}, text => 'after the kills' } if $s2 == 200;
}
my %by_did;
for my $uri (keys %acked) {
    my ($coll, $rkey) = $uri =~ m{^at://[^/]+/([^/]+)/([^/]+)$};
    $by_did{ $acked{$uri}{did} }{"$coll/$rkey"} = $acked{$uri}{cid};
}
open my $fh, '>', "$dir/acks.json" or die;
print $fh json()->encode(\%by_did);
close $fh;

SKIP: {
    skip 'no t/js/node_modules (make node-deps)', 1 unless -d 't/js/node_modules/@atproto/repo';
    node_tap('server_kill_verify.mjs', PDS_URL => $u, PLC_URL => $pds->{plc}, ACKS => "$dir/acks.json");
}

stop_all();
# SIGKILL was ours: a master that saw its workers die first may log it
my @problems = grep { !/exited on signal 9\b/ } log_problems($pds->{log});
is_deeply(\@problems, [], 'no alerts, crashes or sanitizer reports in the error log');
diag sprintf '%.1fs', time - $t0;
done_testing();
