# The order of checks, as the reference's (@atproto/pds 0.5.35, compared
# request by request): a procedure's session first, then its input against
# the method's Lexicon (wording of @atproto/lex-schema), then the account
# the "repo" names and whether it is the caller's, then the rest.  So a
# write to another account's repo with a well-formed input is 401
# AuthenticationRequired, and with a malformed one the input's error; the
# number of writes is judged after the account.  updateHandle: the
# handle's syntax, its TLD, then whether it is one of this service's.
# Answers that need no account are data-driven blocks in t/03-identity.t,
# t/04-repo.t and t/06-proxy.t.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PDSTest qw(start_pds http_json stop_all log_problems create_account);

# more than ten updateHandle calls of one account in a minute: over the
# reference's limit (t/61 checks it), so the limits are off here
my $pds = start_pds(config => 'pds_rate_limits off;') or plan skip_all => 'no PLC directory (npm packages missing)';
my $u = $pds->{url};

my $a = create_account($pds, handle => 'anna.test') or die 'no account';
my $b = create_account($pds, handle => 'bert.test') or die 'no account';
my %bert = (Authorization => "Bearer $b->{accessJwt}");

my $post = { '$type' => 'app.bsky.feed.post', text => 'x',
             createdAt => '2024-01-01T00:00:00.000Z' };
my $A = $a->{did};
my $B = $b->{did};

# [what, method, input, status, error, message (undef: not checked)]
my @cases = (
    ['createRecord to another repo', 'createRecord',
     { repo => $A, collection => 'app.bsky.feed.post', record => $post },
     401, 'AuthenticationRequired', 'Authentication Required'],
    ['... by its handle', 'createRecord',
     { repo => 'anna.test', collection => 'app.bsky.feed.post', record => $post },
     401, 'AuthenticationRequired', 'Authentication Required'],
    ['... with an invalid collection: the input first', 'createRecord',
     { repo => $A, collection => 'bad', record => $post },
     400, 'InvalidRequest', 'Invalid NSID (got "bad") at $.collection'],
    ['... without a record', 'createRecord',
     { repo => $A, collection => 'app.bsky.feed.post' },
     400, 'InvalidRequest', 'Missing required key "record" at $'],
    ['... with an invalid rkey', 'createRecord',
     { repo => $A, collection => 'app.bsky.feed.post', rkey => 'a/b', record => $post },
     400, 'InvalidRequest', 'Invalid record key (got "a/b") at $.rkey'],
    ['... a record that is not an object', 'createRecord',
     { repo => $A, collection => 'app.bsky.feed.post', record => 5 },
     400, 'InvalidRequest', 'Expected object value type (got 5) at $.record'],
    ['... a record its Lexicon refuses: the account first (a later check)', 'createRecord',
     { repo => $A, collection => 'app.bsky.feed.post', record => { '$type' => 'app.bsky.feed.post' } },
     401, 'AuthenticationRequired', 'Authentication Required'],
    ['createRecord: repo is no AT identifier', 'createRecord',
     { repo => 'not a repo', collection => 'app.bsky.feed.post', record => $post },
     400, 'InvalidRequest', 'Invalid AT identifier (got "not a repo") at $.repo'],
    ['createRecord: a repo hosted nowhere here', 'createRecord',
     { repo => 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', collection => 'app.bsky.feed.post', record => $post },
     403, 'AccountNotFound', 'Account not found'],
    ['createRecord: rkey over 512 characters', 'createRecord',
     { repo => $B, collection => 'app.bsky.feed.post', rkey => 'x' x 600, record => $post },
     400, 'InvalidRequest', 'string too big (maximum 512, got 600) at $.rkey'],
    ['createRecord: swapCommit is no CID', 'createRecord',
     { repo => $B, collection => 'app.bsky.feed.post', record => $post, swapCommit => 'bad' },
     400, 'InvalidRequest', 'Invalid CID string (got "bad") at $.swapCommit'],
    ['putRecord to another repo', 'putRecord',
     { repo => $A, collection => 'app.bsky.feed.post', rkey => '3kabcdefghi22', record => $post },
     401, 'AuthenticationRequired', 'Authentication Required'],
    ['... without rkey', 'putRecord',
     { repo => $A, collection => 'app.bsky.feed.post', record => $post },
     400, 'InvalidRequest', 'Missing required key "rkey" at $'],
    ['... swapRecord is no CID: before the record key is judged by its Lexicon', 'putRecord',
     { repo => $A, collection => 'app.bsky.feed.post', rkey => 'abc', record => $post, swapRecord => 'bad' },
     400, 'InvalidRequest', 'Invalid CID string (got "bad") at $.swapRecord'],
    ['deleteRecord to another repo', 'deleteRecord',
     { repo => $A, collection => 'app.bsky.feed.post', rkey => 'abc' },
     401, 'AuthenticationRequired', 'Authentication Required'],
    ['... with an invalid collection', 'deleteRecord',
     { repo => $A, collection => 'bad', rkey => 'abc' },
     400, 'InvalidRequest', 'Invalid NSID (got "bad") at $.collection'],
    ['applyWrites to another repo', 'applyWrites',
     { repo => $A, writes => [{ '$type' => 'com.atproto.repo.applyWrites#create',
                                collection => 'app.bsky.feed.post', value => $post }] },
     401, 'AuthenticationRequired', 'Authentication Required'],
    ['... 201 writes: the account before their number', 'applyWrites',
     { repo => $A, writes => [map { { '$type' => 'com.atproto.repo.applyWrites#delete',
                                      collection => 'app.bsky.feed.post', rkey => "r$_" } } 1 .. 201] },
     401, 'AuthenticationRequired', 'Authentication Required'],
    ['... an invalid collection in a write', 'applyWrites',
     { repo => $A, writes => [{ '$type' => 'com.atproto.repo.applyWrites#create',
                                collection => 'bad', value => $post }] },
     400, 'InvalidRequest', 'Invalid NSID (got "bad") at $.writes[0].collection'],
    ['... a write of no known type', 'applyWrites',
     { repo => $A, writes => [{ '$type' => 'nope', collection => 'app.bsky.feed.post', rkey => 'abc' }] },
     400, 'InvalidRequest', 'Expected one of "com.atproto.repo.applyWrites#create", '
                           . '"com.atproto.repo.applyWrites#update" or '
                           . '"com.atproto.repo.applyWrites#delete" (got "nope") at $.writes[0].$type'],
    ['... a write without $type', 'applyWrites',
     { repo => $A, writes => [{ collection => 'app.bsky.feed.post', rkey => 'abc' }] },
     400, 'InvalidRequest', 'Expected an object which includes the "$type" property value type '
                           . '(got {"collection": ..., "rkey": ...}) at $.writes[0]'],
    ['... an update without rkey', 'applyWrites',
     { repo => $A, writes => [{ '$type' => 'com.atproto.repo.applyWrites#update',
                                collection => 'app.bsky.feed.post', value => $post }] },
     400, 'InvalidRequest', 'Missing required key "rkey" at $.writes[0]'],
    ['... writes that are not an array', 'applyWrites',
     { repo => $A, writes => 5 },
     400, 'InvalidRequest', 'Expected array value type (got 5) at $.writes'],
    ['... validate that is not a boolean', 'applyWrites',
     { repo => $A, writes => [], validate => 'yes' },
     400, 'InvalidRequest', 'Expected boolean value type (got "yes") at $.validate'],
    ['applyWrites, own repo: 201 writes', 'applyWrites',
     { repo => $B, writes => [map { { '$type' => 'com.atproto.repo.applyWrites#delete',
                                      collection => 'app.bsky.feed.post', rkey => "r$_" } } 1 .. 201] },
     400, 'InvalidRequest', 'Too many writes. Max: 200'],
);

for my $c (@cases) {
    my ($what, $m, $in, $st, $err, $msg) = @$c;
    my ($s, $r) = http_json(POST => "$u/xrpc/com.atproto.repo.$m", $in, \%bert);
    is($s, $st, "$what: $st");
    is(ref $r eq 'HASH' ? $r->{error} : $r, $err, "... $err");
    is($r->{message}, $msg, "... \"$msg\"") if defined $msg && ref $r eq 'HASH';
}

# nothing was written to anna's repo
my ($s, $r) = http_json(GET => "$u/xrpc/com.atproto.repo.listRecords?repo=$A&collection=app.bsky.feed.post");
is(scalar @{ $r->{records} || [1] }, 0, "anna's repo has no posts");

# updateHandle: the handle's syntax (the Lexicon's), its TLD, whose domain
my @handles = (
    ['bad_handle!.test', 400, 'InvalidRequest', 'Invalid handle (got "bad_handle!.test") at $.handle'],
    ['nodot', 400, 'InvalidRequest', 'Invalid handle (got "nodot") at $.handle'],
    ['bert.123', 400, 'InvalidRequest', 'Invalid handle (got "bert.123") at $.handle'],
    ['bert.local', 400, 'InvalidHandle', 'Handle TLD is invalid or disallowed'],
    ['bert.onion', 400, 'InvalidHandle', 'Handle TLD is invalid or disallowed'],
    ['abcdefghijklmnopqrstuvwxyz.test', 400, 'InvalidHandle', 'Handle too long'],
    ['bb.test', 400, 'InvalidHandle', 'Handle too short'],
    ['a.bert.test', 400, 'InvalidHandle', 'Invalid characters in handle'],
    ['admin.test', 400, 'HandleNotAvailable', 'Reserved handle'],
    ['anna.test', 400, 'HandleNotAvailable', 'Handle already taken: anna.test'],
    ['bert.example.com', 400, 'InvalidRequest', 'External handle did not resolve to DID'],
);
for my $h (@handles) {
    my ($handle, $st, $err, $msg) = @$h;
    my ($s, $r) = http_json(POST => "$u/xrpc/com.atproto.identity.updateHandle",
                            { handle => $handle }, \%bert);
    is("$s $r->{error}", "$st $err", "updateHandle $handle: $st $err");
    is($r->{message}, $msg, "... \"$msg\"");
}
($s, $r) = http_json(POST => "$u/xrpc/com.atproto.identity.updateHandle", { handle => 5 }, \%bert);
is($r->{message}, 'Expected string value type (got 5) at $.handle', 'updateHandle: a handle that is not a string');
($s, $r) = http_json(POST => "$u/xrpc/com.atproto.identity.updateHandle", {}, \%bert);
is($r->{message}, 'Missing required key "handle" at $', 'updateHandle: no handle');

# checkSignupQueue: no queue here
($s, $r) = http_json(GET => "$u/xrpc/com.atproto.temp.checkSignupQueue", undef, \%bert);
is($s, 200, 'checkSignupQueue');
is_deeply($r, { activated => JSON::PP::true() }, '... {"activated":true}');

stop_all();
is_deeply([log_problems($pds->{log})], [], 'no alerts or crashes');
done_testing();
