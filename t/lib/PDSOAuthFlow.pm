package PDSOAuthFlow;

# The OAuth flow of a loopback client driven by hand, against our PDS or
# the reference (t/70, t/75): DPoP proofs made by build/t/pds_oauth_cli
# with one key per test process, retried once with the server's nonce; a
# pushed request; the sign-in (our page's form, or the reference's own
# sign-in API); the code exchange.  A server is a hash: name ('ours' or
# not), url (where to connect), pub (its public URL, for htu), did (the
# reference's account, for its consent), and what the flow keeps in it
# (nonce, page: the last authorize page).  oauth_flow_setup(handle =>,
# password =>) names the account that signs in.
use strict;
use warnings;
use Exporter 'import';
use JSON::PP ();
use PDSTest qw(http_json);

our @EXPORT_OK = qw(oauth_flow_setup uri_esc form b64 dpop_req par sign_in token
                    oauth_redirect);

my $cli = ($ENV{PDS_BUILD_DIR} || 'build') . '/t/pds_oauth_cli';
my $key = join '', map { sprintf '%02x', int rand 256 } 1 .. 32;
my $redirect = 'http://127.0.0.1:9/cb';
my %who;

sub oauth_flow_setup { %who = @_ }
sub oauth_redirect { $redirect }

sub uri_esc { my $v = shift; $v =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge; $v }
sub form { my (%f) = @_; join '&', map { "$_=" . uri_esc($f{$_} // '') } sort keys %f }
sub b64 { require MIME::Base64; MIME::Base64::encode_base64(shift, '') }

sub proof {
    my ($srv, $htm, $path, $at) = @_;
    my @a = ($key, $htm, "$srv->{pub}$path", $srv->{nonce} // '-', $at // '-', 0);
    chomp(my $p = `$cli proof @a`);
    return $p;
}

# a request with a DPoP proof, again with the server's nonce when it asks
sub dpop_req {
    my ($srv, $method, $path, $body, $headers, $at) = @_;
    my ($s, $b, $res);
    for (1 .. 2) {
        ($s, $b, $res) = http_json($method, "$srv->{url}$path", $body,
                                   { %{ $headers || {} }, DPoP => proof($srv, $method, $path, $at) });
        $srv->{nonce} = $res->{headers}{'dpop-nonce'} if $res->{headers}{'dpop-nonce'};
        my $www = $res->{headers}{'www-authenticate'} // '';
        last unless (ref $b && ($b->{error} // '') eq 'use_dpop_nonce') || $www =~ /use_dpop_nonce/;
    }
    return ($s, $b, $res);
}

# PAR for scope, the client declaring declared (default: scope):
# (status, body, client_id, PKCE verifier)
sub par {
    my ($srv, $scope, $declared) = @_;
    my $v = 'w' . join('', map { ('a' .. 'z')[rand 26] } 1 .. 60);
    chomp(my $c = `$cli challenge $v`);
    my $client_id = 'http://localhost?redirect_uri=' . uri_esc($redirect)
                  . '&scope=' . uri_esc($declared // $scope);
    my ($s, $b) = dpop_req($srv, POST => '/oauth/par',
        form(client_id => $client_id, response_type => 'code', redirect_uri => $redirect,
             scope => $scope, code_challenge => $c, code_challenge_method => 'S256',
             state => 'st', login_hint => $who{handle}),
        { 'Content-Type' => 'application/x-www-form-urlencoded' });
    return ($s, $b, $client_id, $v);
}

sub cookies {
    my ($res, $jar) = @_;
    my $sc = $res->{headers}{'set-cookie'} // '';
    $jar->{$1} = $2 while $sc =~ /(?:^|,\s*)([A-Za-z0-9_-]+)=([^;,]*)/g;
    return join '; ', map { "$_=$jar->{$_}" } sort keys %$jar;
}

# the code, signed in and consented on the server's own page or API
sub sign_in {
    my ($srv, $client_id, $ru) = @_;
    my $q = "/oauth/authorize?client_id=" . uri_esc($client_id) . '&request_uri=' . uri_esc($ru);
    my ($s, $b, $res) = http_json(GET => "$srv->{url}$q");
    my %jar;
    my $cookie = cookies($res, \%jar);
    $srv->{page} = $b;
    if ($srv->{name} eq 'ours') {
        my ($cs) = $b =~ /name="csrf" value="([0-9a-f]{32})"/;
        ($s, $b, $res) = http_json(POST => "$srv->{url}/oauth/authorize",
            form(request_uri => $ru, client_id => $client_id, csrf => $cs,
                 username => $who{handle}, password => $who{password}, action => 'accept'),
            { 'Content-Type' => 'application/x-www-form-urlencoded', Cookie => "pds-oauth-csrf=$cs" });
        return ($res->{headers}{location} // '') =~ /code=([^&]+)/ ? $1 : undef;
    }
    my %h = ('sec-fetch-mode' => 'same-origin', 'sec-fetch-site' => 'same-origin',
             Origin => $srv->{pub}, Referer => "$srv->{pub}$q", 'x-csrf-token' => $jar{'csrf-token'});
    my $api = "$srv->{url}/\@atproto/oauth-provider/~api";
    ($s, $b, $res) = http_json(POST => "$api/sign-in",
        { locale => 'en', username => $who{handle}, password => $who{password},
          remember => JSON::PP::true },
        { %h, Cookie => $cookie });
    $cookie = cookies($res, \%jar);
    ($s, $b, $res) = http_json(POST => "$api/consent", { did => $srv->{did} },
                               { %h, Cookie => $cookie, 'x-csrf-token' => $jar{'csrf-token'} });
    return (ref $b && ($b->{url} // '') =~ /[?&]code=([^&]+)/) ? $1 : undef;
}

# an access token for scope (declared by the client as well): the token
# answer, with the client_id it was issued to
sub token {
    my ($srv, $scope, $declared) = @_;
    my ($s, $b, $client_id, $v) = par($srv, $scope, $declared);
    return { error => "PAR $s", par => $b } unless ($s == 201 || $s == 200) && $b->{request_uri};
    my $code = sign_in($srv, $client_id, $b->{request_uri}) or return { error => 'no code' };
    (my $c = $code) =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
    ($s, $b) = dpop_req($srv, POST => '/oauth/token',
        form(grant_type => 'authorization_code', code => $c, redirect_uri => $redirect,
             code_verifier => $v, client_id => $client_id),
        { 'Content-Type' => 'application/x-www-form-urlencoded' });
    $b->{client_id} = $client_id if ref $b;
    return $b;
}

1;
