package PDSDns;

# A real DNS server for the tests: Debian's dnsmasq (package dnsmasq-base)
# in the foreground on 127.0.0.1 and a free port, answering only the names
# a test gives it (no upstream, no /etc/hosts), so that nginx's "resolver"
# can be pointed at it and a name can lead anywhere the test wants:
#
#   my $dns = start_dns($dir, address => { 'evil.test' => '127.0.0.1' },
#                             txt => { '_atproto.a.test' => 'did=did:plc:x' })
#       or plan skip_all => 'no dnsmasq (package dnsmasq-base)';
#   ... resolver 127.0.0.1:$dns->{port} ...
#   stop_dns($dns);
#
# "address" maps a domain (and every name under it) to an address, as
# dnsmasq's --address (the other family: no record); "txt" gives TXT
# records (a list: several records of one name); "port" a port chosen
# before (free_port), when a configuration must name it first.  The log has a line "config NAME is ADDRESS" for each answer.  Its pid file and query
# log are in $dir (dnsmasq.pid, dnsmasq.log: every query it was asked).
# start_dns returns undef when dnsmasq is not installed; it is stopped by
# stop_dns or at exit.

use strict;
use warnings;

use Exporter 'import';
use Time::HiRes qw(sleep);
use PDSTest qw(free_port wait_port slurp);

our @EXPORT_OK = qw(start_dns stop_dns dnsmasq_bin);

my @Running;

sub dnsmasq_bin {
    for my $bin ($ENV{PDS_DNSMASQ} // (), '/usr/sbin/dnsmasq') {
        return $bin if -x $bin;
    }
    return undef;
}

sub start_dns {
    my ($dir, %o) = @_;
    my $bin = dnsmasq_bin() or return undef;
    my $port = $o{port} || free_port();   # a port chosen earlier (a
                                          # server's configuration names it)
    my @args = ('--keep-in-foreground', '--conf-file=/dev/null',
                '--no-resolv', '--no-hosts', '--no-poll', '--no-ident',
                "--port=$port", '--listen-address=127.0.0.1',
                '--bind-interfaces', "--pid-file=$dir/dnsmasq.pid",
                "--log-facility=$dir/dnsmasq.log", '--log-queries',
                '--local-ttl=1');
    # as root it would drop to "nobody", who may not write the log here
    push @args, '--user=' . (getpwuid($>) // 'root') if $> == 0;
    my $address = $o{address} || {};
    # --local: the domain is answered here only, so that a query of the
    # other address family gets "no such record" rather than REFUSED
    # (there is no upstream to forward it to), which nginx's resolver
    # would take as a failure of the whole name
    push @args, "--address=/$_/$address->{$_}", "--local=/$_/"
        for sort keys %$address;
    my $txt = $o{txt} || {};
    # a list: that many records of the one name
    for my $name (sort keys %$txt) {
        push @args, "--txt-record=$name,$_"
            for ref $txt->{$name} ? @{ $txt->{$name} } : $txt->{$name};
    }

    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>>', "$dir/dnsmasq.out";
        open STDERR, '>>', "$dir/dnsmasq.out";
        exec $bin, @args;
        exit 127;
    }
    my $dns = { port => $port, pid => $pid, log => "$dir/dnsmasq.log",
                dir => $dir };
    push @Running, $dns;
    # it answers on TCP as well as UDP: ready once the TCP port accepts
    unless (wait_port($port, 10)) {
        stop_dns($dns);
        die "dnsmasq did not start:\n" . slurp("$dir/dnsmasq.out")
            . slurp("$dir/dnsmasq.log");
    }
    return $dns;
}

sub stop_dns {
    my ($dns) = @_;
    return unless $dns && $dns->{pid};
    kill 'TERM', $dns->{pid};
    waitpid $dns->{pid}, 0;
    $dns->{pid} = 0;
    @Running = grep { $_ != $dns } @Running;
}

END {
    my $status = $?;
    stop_dns($_) for @Running;
    $? = $status;
}

1;
