package PDSMail;

# A real SMTP receiver for flows (t/mail/smtp_receiver.py on Debian's
# python3-aiosmtpd), a test CA made with openssl, and the mails it got.
#
#   my $ca = make_ca($dir);                       # {ca, cert, key}
#   my $smtp = start_smtp(starttls => $ca, auth => 'user:pass');
#   my @m = wait_mails($smtp, 1);                 # [{to, subject, text, ...}]
#   my $token = mail_token($m[0]);                # XXXXX-XXXXX
#   stop_smtp($smtp);
#
# need_smtp() says why the receiver cannot run here (or undef).

use strict;
use warnings;
use Exporter 'import';
use MIME::Base64 qw(decode_base64);
use MIME::QuotedPrint qw(decode_qp);
use Encode qw(decode);
use Time::HiRes qw(sleep time);
use File::Path qw(make_path);
use PDSTest qw(free_port scratch_dir wait_port slurp);
use Cwd qw(abs_path);

our @EXPORT_OK = qw(need_smtp make_ca start_smtp stop_smtp restart_smtp
                    read_mails wait_mails mail_token);

my $Root = abs_path(__FILE__) =~ s{/t/lib/PDSMail\.pm$}{}r;
my $Python = '/usr/bin/python3';
my @Receivers;

sub need_smtp {
    return "no $Python" unless -x $Python;
    system($Python, '-c', 'import aiosmtpd') == 0
        or return 'python3-aiosmtpd is not installed';
    system('openssl version >/dev/null 2>&1') == 0
        or return 'no openssl';
    return undef;
}

# A CA and a certificate for "localhost" (and 127.0.0.1) signed by it.
sub make_ca {
    my ($dir) = @_;
    make_path($dir);
    my $q = sub { system("@_ >/dev/null 2>&1") == 0 or die "failed: @_" };
    $q->("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=PDS-Test-CA"
         . " -keyout $dir/ca.key -out $dir/ca.crt");
    $q->("openssl req -newkey rsa:2048 -nodes -subj /CN=localhost"
         . " -keyout $dir/server.key -out $dir/server.csr");
    open my $fh, '>', "$dir/ext.cnf" or die;
    print $fh "subjectAltName=DNS:localhost,IP:127.0.0.1\n";
    close $fh;
    $q->("openssl x509 -req -in $dir/server.csr -CA $dir/ca.crt -CAkey $dir/ca.key"
         . " -CAcreateserial -days 2 -extfile $dir/ext.cnf -out $dir/server.crt");
    # a certificate for another name, signed by the same CA
    $q->("openssl req -newkey rsa:2048 -nodes -subj /CN=other.example"
         . " -keyout $dir/other.key -out $dir/other.csr");
    open $fh, '>', "$dir/ext2.cnf" or die;
    print $fh "subjectAltName=DNS:other.example\n";
    close $fh;
    $q->("openssl x509 -req -in $dir/other.csr -CA $dir/ca.crt -CAkey $dir/ca.key"
         . " -CAcreateserial -days 2 -extfile $dir/ext2.cnf -out $dir/other.crt");
    return { ca => "$dir/ca.crt", cert => "$dir/server.crt", key => "$dir/server.key",
             other_cert => "$dir/other.crt", other_key => "$dir/other.key" };
}

# Options: port (default a free one), dir (default a scratch one),
# starttls => {cert, key}, tls => {cert, key}, auth => 'user:pass',
# refuse_rcpt => 'substring'.  Returns {port, dir, pid, opts}.
sub start_smtp {
    my (%o) = @_;
    my $smtp = { port => $o{port} || free_port(), dir => $o{dir} || scratch_dir(),
                 opts => \%o };
    make_path($smtp->{dir});
    _spawn($smtp);
    push @Receivers, $smtp;
    return $smtp;
}

sub _spawn {
    my ($smtp) = @_;
    my %o = %{ $smtp->{opts} };
    my @args = ('--port', $smtp->{port}, '--dir', $smtp->{dir});
    push @args, '--starttls', $o{starttls}{cert}, $o{starttls}{key} if $o{starttls};
    push @args, '--tls', $o{tls}{cert}, $o{tls}{key} if $o{tls};
    push @args, '--auth', $o{auth} if $o{auth};
    push @args, '--refuse-rcpt', $o{refuse_rcpt} if $o{refuse_rcpt};
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>>', "$smtp->{dir}/receiver.log";
        open STDERR, '>>', "$smtp->{dir}/receiver.log";
        exec $Python, "$Root/t/mail/smtp_receiver.py", @args;
        exit 127;
    }
    $smtp->{pid} = $pid;
    wait_port($smtp->{port}, 15)
        or die "the SMTP receiver did not start:\n" . slurp("$smtp->{dir}/receiver.log");
    # the controller accepts before it is fully up: wait for its word
    for (1 .. 200) {
        last if slurp("$smtp->{dir}/receiver.log") =~ /^ready/m;
        sleep 0.025;
    }
}

sub stop_smtp {
    my ($smtp) = @_;
    return unless $smtp->{pid};
    kill 'TERM', $smtp->{pid};
    waitpid $smtp->{pid}, 0;
    $smtp->{pid} = undef;
}

# the same receiver (port, directory, options) again
sub restart_smtp {
    my ($smtp) = @_;
    stop_smtp($smtp);
    _spawn($smtp);
}

# Every mail received so far, oldest first: {file, from, to (envelope),
# tls, auth, headers => {lower-case name => value}, subject (decoded),
# text (the body decoded), raw}
sub read_mails {
    my ($smtp) = @_;
    my @m;
    for my $f (sort glob "$smtp->{dir}/*.eml") {
        my $raw = slurp($f);
        my ($head, $body) = split /\r\n\r\n/, $raw, 2;
        my %h;
        my $last;
        for my $line (split /\r\n/, $head) {
            if ($line =~ /^[ \t]/ && $last) { $h{$last} .= "\r\n$line"; next }
            my ($k, $v) = $line =~ /^([^:]+):\s?(.*)$/ or next;
            $last = lc $k;
            $h{$last} = $v;
        }
        my $text = $body // '';
        if (($h{'content-transfer-encoding'} // '') =~ /quoted-printable/i) {
            $text = decode_qp($text =~ s/\r\n/\n/gr);
        }
        $text = decode('UTF-8', $text =~ s/\r\n/\n/gr);
        my $subject = $h{subject} // '';
        $subject =~ s/\r\n[ \t]//g;
        $subject =~ s/=\?UTF-8\?B\?([^?]*)\?=\s*/decode('UTF-8', decode_base64($1))/gie;
        push @m, { file => $f, from => $h{'x-test-mail-from'},
                   to => $h{'x-test-rcpt-to'}, tls => $h{'x-test-tls'},
                   auth => $h{'x-test-auth'}, headers => \%h,
                   subject => $subject, text => $text, raw => $raw };
    }
    return @m;
}

# waits (up to $secs, default 10) until at least $n mails are there
sub wait_mails {
    my ($smtp, $n, $secs) = @_;
    my $t0 = time;
    my @m;
    while (1) {
        @m = read_mails($smtp);
        return @m if @m >= $n || time - $t0 > ($secs || 10);
        sleep 0.05;
    }
}

# the token of a mail: a line of its own that is XXXXX-XXXXX
sub mail_token {
    my ($mail) = @_;
    return $mail && $mail->{text} =~ /^([A-Z2-7]{5}-[A-Z2-7]{5})$/m ? $1 : undef;
}

# (local $?: reaping a receiver must not become the test's exit status)
END { local $?; stop_smtp($_) for @Receivers }

1;
