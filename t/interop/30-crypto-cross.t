#!/usr/bin/perl
# The core's crypto (build/t/pds_crypto_cli) against @atproto/crypto,
# @atproto/xrpc-server, @did-plc/lib and Node's scrypt
# (t/js/crypto_cross.mjs prints TAP, which prove reads directly).
use strict;
use warnings;
use lib 't/lib';
use PDSTest qw(need_node);

need_node('@atproto/crypto', '@atproto/xrpc-server', '@did-plc/lib');
exec 'node', 't/js/crypto_cross.mjs' or die "cannot run node: $!";
