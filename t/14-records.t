# Record and blob writes that must be refused, with the reference's status
# and error name, and without changing anything.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use PDSTest qw(start_pds http_json stop_all log_problems create_account);

my $pds = start_pds(config => <<'CONF')
        pds_blob_upload_limit 100k;
CONF
    or plan skip_all => 'no PLC directory (npm packages missing)';
my $u = $pds->{url};

my $a = create_account($pds, handle => 'hank.test') or die 'no account';
my $b = create_account($pds, handle => 'ivy.test') or die 'no account';
my %auth = (Authorization => "Bearer $a->{accessJwt}");

sub root {
    my ($s, $r) = http_json(GET => "$u/xrpc/com.atproto.sync.getLatestCommit?did=$a->{did}");
    return $s == 200 ? $r->{rev} : do {
        # before the sync layer exists: the newest record listing is enough
        my (undef, $l) = http_json(GET => "$u/xrpc/com.atproto.repo.listRecords?repo=$a->{did}&collection=app.bsky.feed.post&limit=100");
        join ',', map { $_->{cid} } @{ $l->{records} || [] };
    };
}

my $post = { '$type' => 'app.bsky.feed.post', text => 'hi', createdAt => '2026-11-24T00:00:00.000Z' };
my ($s, $r) = http_json(POST => "$u/xrpc/com.atproto.repo.createRecord",
                        { repo => $a->{did}, collection => 'app.bsky.feed.post', rkey => '3jzfcijpj2z2a', record => $post }, \%auth);
is($s, 200, 'a first post') or diag explain $r;
my $before = root();

my @cases = (
    [ 'malformed JSON', '{"repo": ', 400, 'InvalidRequest' ],
    [ 'wrong content type', [ 'text/plain', '{}' ], 400, 'InvalidRequest' ],
    [ "another account's repo", { repo => $b->{did}, collection => 'app.bsky.feed.post', record => $post }, 401, 'AuthenticationRequired' ],
    [ 'an unknown repo', { repo => 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', collection => 'app.bsky.feed.post', record => $post }, 403, 'AccountNotFound' ],
    [ 'a $type that is not the collection', { repo => $a->{did}, collection => 'app.bsky.feed.like', record => $post }, 400, 'InvalidRequest' ],
    [ 'a bad collection', { repo => $a->{did}, collection => 'not an nsid', record => $post }, 400, 'InvalidRequest' ],
    [ 'a bad record key', { repo => $a->{did}, collection => 'app.bsky.feed.post', rkey => 'a/b', record => $post }, 400, 'InvalidRequest' ],
    [ 'a float in a record', '{"repo":"' . $a->{did} . '","collection":"app.bsky.feed.post","record":{"text":"x","n":1.5}}', 400, 'InvalidRequest' ],
    [ 'a post over 300 graphemes (Lexicon validation)', { repo => $a->{did}, collection => 'app.bsky.feed.post', record => { %$post, text => 'x' x 301 } }, 400, 'InvalidRequest' ],
    [ 'a like without its subject', { repo => $a->{did}, collection => 'app.bsky.feed.like', record => { createdAt => '2026-11-24T00:00:00.000Z' } }, 400, 'InvalidRequest' ],
    [ 'validate:true for an unknown type', { repo => $a->{did}, collection => 'com.example.thing', validate => JSON::PP::true(), record => { a => 1 } }, 400, 'InvalidRequest' ],
    [ 'an existing record key', { repo => $a->{did}, collection => 'app.bsky.feed.post', rkey => '3jzfcijpj2z2a', record => $post }, 400, 'InvalidSwap' ],
    [ 'a wrong swapCommit', { repo => $a->{did}, collection => 'app.bsky.feed.post', record => $post, swapCommit => 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm' }, 400, 'InvalidSwap' ],
    [ 'an oversize record (over 1 MB of JSON)', { repo => $a->{did}, collection => 'app.bsky.feed.post', record => { %$post, text => 'x' x 1_100_000 } }, 413, 'PayloadTooLarge' ],
);

for my $c (@cases) {
    my ($name, $body, $status, $error) = @$c;
    my %h = %auth;
    if (ref $body eq 'ARRAY') {
        $h{'Content-Type'} = $body->[0];
        $body = $body->[1];
    }
    ($s, $r) = http_json(POST => "$u/xrpc/com.atproto.repo.createRecord", $body, \%h);
    is($s, $status, "$name: $status");
    is(ref $r ? $r->{error} : $r, $error, "$name: $error");
}

($s, $r) = http_json(POST => "$u/xrpc/com.atproto.repo.createRecord",
                     { repo => $a->{did}, collection => 'app.bsky.feed.post', record => { %$post, text => 'x' x 301 } }, \%auth);
like($r->{message}, qr/^Invalid app\.bsky\.feed\.post record: .*\$\.record\.text/, 'the message names the record type and the path');

($s, $r) = http_json(POST => "$u/xrpc/com.atproto.repo.putRecord",
                     { repo => $a->{did}, collection => 'app.bsky.feed.post', rkey => '3jzfcijpj2z2a',
                       record => { %$post, text => 'changed' }, swapRecord => undef }, \%auth);
is($s, 400, 'putRecord with swapRecord null over an existing record');
is($r->{error}, 'InvalidSwap', '... InvalidSwap');

($s, $r) = http_json(POST => "$u/xrpc/com.atproto.repo.applyWrites",
                     { repo => $a->{did}, writes => [ map { { '$type' => 'com.atproto.repo.applyWrites#create', collection => 'app.bsky.feed.post', value => $post } } 1 .. 201 ] }, \%auth);
is($s, 400, 'applyWrites with 201 writes');
is($r->{message}, 'Too many writes. Max: 200', '... Too many writes');

($s, $r) = http_json(POST => "$u/xrpc/com.atproto.repo.applyWrites",
                     { repo => $a->{did}, writes => [
                         { '$type' => 'com.atproto.repo.applyWrites#create', collection => 'app.bsky.feed.post', rkey => '3jzfcijpj2z2b', value => $post },
                         { '$type' => 'com.atproto.repo.applyWrites#update', collection => 'app.bsky.feed.post', rkey => '3jzfcijpj2z2c', value => $post } ] }, \%auth);
is($s, 400, 'applyWrites updating a missing record fails as a whole');
($s, $r) = http_json(GET => "$u/xrpc/com.atproto.repo.getRecord?repo=$a->{did}&collection=app.bsky.feed.post&rkey=3jzfcijpj2z2b");
is($r->{error}, 'RecordNotFound', '... and its create did not happen');

($s, $r) = http_json(POST => "$u/xrpc/com.atproto.repo.createRecord",
                     { repo => $a->{did}, collection => 'app.bsky.feed.post', record => $post });
is($s, 401, 'no session');

# blobs over the limit (100k here)
($s, $r) = http_json(POST => "$u/xrpc/com.atproto.repo.uploadBlob", 'x' x 150_000,
                     { %auth, 'Content-Type' => 'image/jpeg' });
is($s, 413, 'an oversize blob');
is($r->{error}, 'PayloadTooLarge', '... PayloadTooLarge');

($s, $r) = http_json(POST => "$u/xrpc/com.atproto.repo.uploadBlob", 'y' x 50_000,
                     { %auth, 'Content-Type' => 'image/jpeg' });
is($s, 200, 'a blob under the limit');
is($r->{blob}{size}, 50_000, '... its size');

is(root(), $before, 'nothing above changed the repo');

($s, $r) = http_json(GET => "$u/xrpc/com.atproto.repo.getRecord?repo=$a->{did}&collection=app.bsky.feed.post&rkey=3jzfcijpj2z2a");
is($r->{value}{text}, 'hi', 'the first post is unchanged');

stop_all();
is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes');
done_testing();
