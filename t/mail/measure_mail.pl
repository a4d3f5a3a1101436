#!/usr/bin/perl
# Figures of the mailer, run by hand from the repository root after `make`
# (with the TEST_ENV variables of t/README.md):
#
#   perl t/mail/measure_mail.pl [N]
#
#  1. throughput: N (default 500) requestEmailConfirmation calls as fast as
#     one client makes them, to a PDS with 1 and with 2 workers and a local
#     receiver (t/mail/smtp_receiver.py) that is up: mails delivered per
#     second, from the first request to the last mail stored;
#  2. the mailer alone: N mails queued while the receiver is down, then
#     all due at once (nginx restarted once the receiver is up): mails
#     delivered per second, 1 and 2 workers (SKIP_LATENCY=1 skips 3);
#  3. latency after an outage: a mail requested while the receiver is down,
#     the receiver started 1, 6, 16 and 40 s later: seconds from its start
#     to the mail's arrival (the back-off: 5 s, 10 s, 20 s ... 10 min).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Time::HiRes qw(time sleep);
use PDSTest qw(start_pds start_plc start_nginx nginx_pids slurp http_json create_account
               scratch_dir free_port);
use PDSMail qw(need_smtp start_smtp read_mails);

*Test::More::diag = sub { print STDERR "# @_\n" } unless defined &Test::More::diag;

my $N = $ARGV[0] || 500;
if (my $why = need_smtp()) { die "$why\n" }
my $plc = start_plc(scratch_dir()) or die "no PLC directory\n";

sub request {
    my ($pds, $acc) = @_;
    my ($s) = http_json(POST => "$pds->{url}/xrpc/com.atproto.server.requestEmailConfirmation",
                        undef, { Authorization => "Bearer $acc->{accessJwt}" });
    die "requestEmailConfirmation: $s\n" unless $s == 200;
}

for my $workers (1, 2) {
    my $smtp = start_smtp();
    my $pds = start_pds(plc => $plc, workers => $workers, config => <<"CONF");
        pds_email_smtp_url smtp://127.0.0.1:$smtp->{port};
        pds_email_from_address noreply\@pds.example.com;
        pds_rate_limits off;
CONF
    my $acc = create_account($pds, handle => "rate$workers.test") or die;
    sleep 1.5;
    my $t0 = time;
    request($pds, $acc) for 1 .. $N;
    my $queued = time - $t0;
    my $n = 0;
    while (time - $t0 < 300) {
        $n = () = glob "$smtp->{dir}/*.eml";
        last if $n >= $N;
        sleep 0.02;
    }
    my $all = time - $t0;
    printf "%d worker(s): %d requests in %.2f s (%.0f/s); %d mails delivered in %.2f s: %.0f mails/s\n",
        $workers, $N, $queued, $N / $queued, $n, $all, $n / $all;
}

# the mailer alone: N mails queued while the receiver is down, nginx
# stopped, the receiver started, nginx started again: every mail is due at
# once; mails per second from the first stored to the last
for my $workers (1, 2) {
    my $port = free_port();
    my $pds = start_pds(plc => $plc, workers => $workers, config => <<"CONF");
        pds_email_smtp_url smtp://127.0.0.1:$port;
        pds_email_from_address noreply\@pds.example.com;
        pds_rate_limits off;
CONF
    my $acc = create_account($pds, handle => "drain$workers.test") or die;
    request($pds, $acc) for 1 .. $N;
    my $t0 = time;
    while (time - $t0 < 60) {
        last if (() = slurp($pds->{log}) =~ /not sent yet \(attempt 1\)/g) >= $N;
        sleep 0.1;
    }
    my ($master) = nginx_pids($pds);
    kill 'TERM', $master;
    waitpid $master, 0;
    sleep 6;
    my $smtp = start_smtp(port => $port);
    my $conf = slurp("$pds->{dir}/nginx.conf");
    $conf =~ s/^\s*user [^\n]*\n//;
    start_nginx($pds->{dir}, $conf, $pds->{port});
    my ($first, $last, $n);
    $t0 = time;
    while (time - $t0 < 120) {
        $n = () = glob "$smtp->{dir}/*.eml";
        $first //= time if $n;
        if ($n >= $N) { $last = time; last }
        sleep 0.01;
    }
    printf "%d worker(s), %d mails due at once: %d delivered in %.2f s after the first: %.0f mails/s\n",
        $workers, $N, $n, ($last // time) - $first, ($n - 1) / ((($last // time) - $first) || 1);
}

my @cases;
for my $down ($ENV{SKIP_LATENCY} ? () : (1, 6, 16, 40)) {
    my $port = free_port();
    my $pds = start_pds(plc => $plc, config => <<"CONF");
        pds_email_smtp_url smtp://127.0.0.1:$port;
        pds_email_from_address noreply\@pds.example.com;
CONF
    my $acc = create_account($pds, handle => "down$down.test") or die;
    push @cases, { down => $down, port => $port, pds => $pds, acc => $acc };
}
my $t0 = time;
request($_->{pds}, $_->{acc}) for @cases;
while (grep { !$_->{got} } @cases) {
    my $now = time - $t0;
    for my $c (@cases) {
        if (!$c->{smtp} && $now >= $c->{down}) {
            $c->{smtp} = start_smtp(port => $c->{port});
            $c->{up} = time;
        }
        if ($c->{smtp} && !$c->{got} && read_mails($c->{smtp})) {
            $c->{got} = time;
        }
    }
    last if $now > 200;
    sleep 0.05;
}
for my $c (@cases) {
    printf "receiver down for %2d s: mail delivered %s s after it came up\n",
        $c->{down}, $c->{got} ? sprintf('%.1f', $c->{got} - $c->{up}) : 'never (200 s)';
}
