# OAuth requests side by side, run by hand (not by make test): the reference
# PDS 0.5.35 (already running; its port first in REF_PORTS_FILE, default
# /work/ref/oauth/run/ports) and ours (started here with PDSTest); prints a
# markdown table of both answers (status, error and description, or keys).
use strict; use warnings;
use lib 't/lib';
use PDSTest qw(start_pds http_json stop_all);
my ($refport) = split ' ', `cat ${\($ENV{REF_PORTS_FILE} // '/work/ref/oauth/run/ports')}`;
my $pds = start_pds() or die 'no pds';
my %srv = (ref => $refport, ours => $pds->{port});
my $cli = ($ENV{PDS_BUILD_DIR} || 'build') . '/t/pds_oauth_cli';
my $key = join '', map { sprintf '%02x', int rand 256 } 1 .. 32;
sub esc { my $v = shift // ''; $v =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge; $v }
sub form { my %f = @_; join '&', map { "$_=" . esc($f{$_}) } sort keys %f }
chomp(my $ch = `$cli challenge verifier-verifier-verifier-verifier-verifier-1`);
my %par = (client_id => 'http://localhost', response_type => 'code', redirect_uri => 'http://127.0.0.1/',
           scope => 'atproto', code_challenge => $ch, code_challenge_method => 'S256');
my @rows;
sub run {
    my ($name, $method, $path, $body, $h, $proof) = @_;
    my @cells;
    for my $who ('ref', 'ours') {
        my $port = $srv{$who};
        my %hh = %{ $h || {} };
        $hh{'Content-Type'} //= 'application/x-www-form-urlencoded' if defined $body;
        if ($proof) { $hh{DPoP} = $proof->($who, "http://localhost:$port") }
        my ($s, $b, $res) = http_json($method, "http://localhost:$port$path", $body, \%hh);
        my $desc = ref $b eq 'HASH' ? ($b->{error} ? "$b->{error}: " . ($b->{error_description} // $b->{message} // '') : join(',', sort keys %$b)) : (length($b) > 40 ? substr($b, 0, 40) . '...' : $b);
        push @cells, "$s $desc";
    }
    push @rows, [$name, @cells];
}
my %nonce;
for my $who ('ref', 'ours') {
    my (undef, undef, $res) = http_json(POST => "http://localhost:$srv{$who}/oauth/par", '', {'Content-Type' => 'text/plain'});
    $nonce{$who} = $res->{headers}{'dpop-nonce'};
}
my $pf = sub { my ($htm, $p, $n) = @_; sub { my ($who, $base) = @_; my $x = $n ? $nonce{$who} : '-'; chomp(my $r = `$cli proof $key $htm $base$p $x`); $r } };
run('GET AS metadata', GET => '/.well-known/oauth-authorization-server');
run('GET PR metadata', GET => '/.well-known/oauth-protected-resource');
run('GET /oauth/jwks', GET => '/oauth/jwks');
run('GET /oauth/par', GET => '/oauth/par');
run('POST /oauth/par text/plain', POST => '/oauth/par', 'x', {'Content-Type' => 'text/plain'});
run('PAR no PKCE', POST => '/oauth/par', form(%par, code_challenge => '', code_challenge_method => ''));
run('PAR plain PKCE', POST => '/oauth/par', form(%par, code_challenge_method => 'plain'));
run('PAR unregistered redirect_uri', POST => '/oauth/par', form(%par, redirect_uri => 'http://127.0.0.1/x'));
run('PAR client_id with a path', POST => '/oauth/par', form(%par, client_id => 'http://localhost/x'));
run('PAR proof without nonce', POST => '/oauth/par', form(%par), {}, $pf->('POST', '/oauth/par', 0));
run('PAR proof for /oauth/token', POST => '/oauth/par', form(%par), {}, $pf->('POST', '/oauth/token', 1));
run('PAR garbage proof', POST => '/oauth/par', form(%par), { DPoP => 'garbage' });
run('PAR ok (proof + nonce)', POST => '/oauth/par', form(%par), {}, $pf->('POST', '/oauth/par', 1));
run('PAR same code_challenge again', POST => '/oauth/par', form(%par), {}, $pf->('POST', '/oauth/par', 1));
run('token without DPoP', POST => '/oauth/token', form(grant_type => 'authorization_code', code => 'cod-x', client_id => 'http://localhost', redirect_uri => 'http://127.0.0.1/', code_verifier => 'v' x 50));
run('token bad code', POST => '/oauth/token', form(grant_type => 'authorization_code', code => 'cod-' . ('0' x 64), client_id => 'http://localhost', redirect_uri => 'http://127.0.0.1/', code_verifier => 'v' x 50), {}, $pf->('POST', '/oauth/token', 1));
run('token grant_type password', POST => '/oauth/token', form(grant_type => 'password', client_id => 'http://localhost'), {}, $pf->('POST', '/oauth/token', 1));
run('token bad refresh token', POST => '/oauth/token', form(grant_type => 'refresh_token', refresh_token => 'ref-' . ('0' x 64), client_id => 'http://localhost'), {}, $pf->('POST', '/oauth/token', 1));
run('revoke without client_id', POST => '/oauth/revoke', form(token => 'x'));
run('revoke unknown token', POST => '/oauth/revoke', form(token => 'x', client_id => 'http://localhost'));
run('GET /oauth/authorize (nothing)', GET => '/oauth/authorize');
run('getSession DPoP token, no proof', GET => '/xrpc/com.atproto.server.getSession', undef, { Authorization => 'DPoP abc.def.ghi' });
run('getSession DPoP token, garbage proof', GET => '/xrpc/com.atproto.server.getSession', undef, { Authorization => 'DPoP abc.def.ghi', DPoP => 'garbage' });
stop_all();
print "| request | reference 0.5.35 | ours |\n|---|---|---|\n";
for (@rows) { my @c = @$_; s/\|/\\|/g for @c; print "| $c[0] | $c[1] | $c[2] |\n" }
