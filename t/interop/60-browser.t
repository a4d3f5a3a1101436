# CORS as a browser enforces it: Debian's Chromium, driven through
# playwright-core, on a page served by a second server block of the same
# nginx (http://127.0.0.1:B/), calls the PDS by host name
# (http://localhost:A): sessions, a bearer token, records, a PNG blob up
# and back, XRPC error bodies, the exposed rate-limit headers and the
# firehose over a WebSocket (t/js/browser_cors.mjs).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PDSTest qw(need_node start_pds stop_all log_problems node_tap create_account free_port);

need_node('playwright-core');
my $chromium = $ENV{CHROMIUM} || '/usr/bin/chromium';
plan skip_all => "no Chromium at $chromium (Debian's chromium package)" unless -x $chromium;

# the page's origin: another port of the same nginx, no CORS headers of its own
my $page_port = free_port();
my $pds = start_pds(http_config => <<"CONF") or plan skip_all => 'no PLC directory';
    server {
        listen 127.0.0.1:$page_port;
        server_name page;
        location / {
            default_type text/html;
            return 200 "<!doctype html><meta charset=utf-8><title>a web client</title><p>another origin</p>";
        }
    }
CONF

my $acct = create_account($pds, handle => 'webby.test', password => 'webby-pass-1');
ok($acct, 'account created');

node_tap('browser_cors.mjs',
         PDS_URL    => "http://localhost:$pds->{port}",
         PAGE_URL   => "http://127.0.0.1:$page_port/",
         NOCORS_URL => "http://localhost:$page_port/",
         HANDLE     => 'webby.test',
         PASSWORD   => 'webby-pass-1',
         CHROMIUM   => $chromium);

stop_all();
is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes');
done_testing();
