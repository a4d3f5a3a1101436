# The shape of the code, checked on every run: the nginx layer's files form
# no cycle, the core uses nothing of nginx or of the nginx layer, LMDB and
# its tables stay in the core (tools/callgraph, on the objects just built),
# no source file is over 1,000 lines, and the unsafe message pattern
# (ngx_snprintf into sizeof(buf) - 1 ending in %Z, which leaves buf
# unterminated when the text is cut) does not come back.
use strict;
use warnings;
use Test::More;
use File::Find;

my $build = $ENV{PDS_BUILD_DIR} || 'build';
my $objs = "$build/nginx/objs/addon";
my $src = 'ngx_pds_module';

plan skip_all => "the module is not built ($objs)" unless -d $objs;

my $out = `tools/callgraph $objs $src 2>&1`;
is($? >> 8, 0, 'tools/callgraph: no cycle, no LMDB outside the core')
    or diag $out;
like($out, qr/^layer 0: .*ngx_pds_request/m, 'the request plumbing is at the bottom');

my (@sources, @long, @nginx_in_core, @unsafe);
# the project's own files (bench/.cache holds downloaded Node headers)
find(sub {
         if ($_ eq '.cache' || $_ eq 'node_modules') {
             $File::Find::prune = 1;
             return;
         }
         push @sources, $File::Find::name if /\.[ch]$/;
     }, $src, 't/core', 't/fuzz', 'bench');

for my $f (sort @sources) {
    open my $fh, '<', $f or die "$f: $!";
    my @lines = <$fh>;
    close $fh;
    push @long, sprintf('%s (%d lines)', $f, scalar @lines) if @lines > 1000;
    my $text = join '', @lines;
    if ($f =~ m{/core/} && $text =~ /#\s*include\s*[<"]ngx_/) {
        push @nginx_in_core, $f;
    }
    while ($text =~ /ngx_v?snprintf\s*\(([^;]*?)sizeof\s*\(?\s*\w+\s*\)?\s*-\s*1\s*,(?:[^;]*?)%Z/gs) {
        push @unsafe, $f;
    }
}

ok(@sources > 50, scalar(@sources) . ' source files looked at');
is_deeply(\@long, [], 'no source file over 1,000 lines');
is_deeply(\@nginx_in_core, [], 'no nginx header in the core');
is_deeply(\@unsafe, [], 'no ngx_snprintf(buf, sizeof(buf) - 1, "...%Z")');

done_testing();
