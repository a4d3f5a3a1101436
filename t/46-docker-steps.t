#!/usr/bin/perl
# The Docker image's steps, emulated (Docker itself cannot run here), so
# that a path the Dockerfile or tools/pds-run gets wrong is caught:
#
#  - the Dockerfile is parsed: stages (FROM ... AS name), COPY (with
#    --from=stage), WORKDIR, ENV, RUN, CMD/ENTRYPOINT;
#  - every COPY source exists in the build context and is not excluded by
#    .dockerignore; every package an apt-get line installs exists in Debian
#    (apt-cache show);
#  - the build stage: the files it COPYs (with .dockerignore applied) go
#    into a scratch root at its WORKDIR and its RUN (make module) runs
#    there; the module comes out where the final stage's COPY --from
#    takes it;
#  - the Lexicons stage needs the npm registry, so it is not run: the tool
#    it names must have been COPYed into the stage, and the final stage
#    must COPY the folder that tool writes (its TARGET_DIR argument); its
#    output is stood in for by the shared schemas (or one document);
#  - the final stage's file layout is built in a scratch root (COPY from
#    the context and from the stages; apt's nginx linked from the host),
#    every path its ENV names is checked, and its CMD runs there with
#    `--config-only` under the ENV (paths moved into the scratch root),
#    PDS_HOSTNAME=pds.example.com and no PDS_DID_PLC_URL; the nginx.conf
#    it writes must pass `nginx -t` with the module loaded from the
#    emulated path and name https://plc.directory; then the CMD runs for
#    real on a loopback port and answers describeServer.
#
# Slow: the build stage builds the module from scratch (about 70-90 s).

use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use File::Path qw(make_path remove_tree);
use File::Find qw(find);
use File::Copy qw(copy);
use File::Basename qw(basename dirname);
use POSIX qw(setsid WNOHANG);
use Time::HiRes qw(sleep time);
use Cwd qw(abs_path);
use FindBin;
use lib "$FindBin::Bin/lib";
use PDSTest qw(free_port nginx_bin slurp write_file wait_port http_json);

my $ngx = nginx_bin();
plan skip_all => "nginx is not installed ($ngx)" unless -x $ngx;
plan skip_all => 'make is not installed'
    unless grep { -x "$_/make" } split /:/, $ENV{PATH} // '';

my $root = abs_path("$FindBin::Bin/..");
my $started = time;
my $scratch = tempdir('pds-docker-XXXXXX', TMPDIR => 1, CLEANUP => 0);
chmod 0755, $scratch;
my $run_pgid;

END {
    my $status = $?;
    if ($run_pgid) {
        kill 'TERM', -$run_pgid;
        for (1 .. 100) { last if waitpid($run_pgid, WNOHANG) != 0; sleep 0.1 }
        kill 'KILL', -$run_pgid if kill 0, -$run_pgid;
        waitpid $run_pgid, 0;
    }
    if ($ENV{PDS_KEEP}) { diag("kept $scratch") } else { remove_tree($scratch) }
    $? = $status;
}
$SIG{$_} = sub { diag('interrupted'); exit 1 } for qw(INT TERM HUP);

# ---- the Dockerfile, parsed ---------------------------------------------

my $dockerfile = slurp("$root/Dockerfile");
ok(length $dockerfile, 'the Dockerfile is there');

# instructions, with continuation lines joined and comments dropped
my @instr;
{
    my $cur = '';
    for my $line (split /\n/, $dockerfile) {
        next if $cur eq '' && $line =~ /^\s*(#|$)/;
        next if $cur ne '' && $line =~ /^\s*#/;
        if ($line =~ s/\\\s*$//) { $cur .= "$line "; next }
        $cur .= $line;
        push @instr, $cur;
        $cur = '';
    }
    push @instr, $cur if $cur ne '';
}

# an exec form (JSON array) as a list, or a shell form as one string
sub args_of {
    my $a = shift;
    return [ @{ JSON::PP->new->decode($a) } ] if $a =~ /^\s*\[/;
    return $a;
}

my (@stages, %stage);
for my $i (@instr) {
    my ($op, $rest) = $i =~ /^\s*(\w+)\s+(.*?)\s*$/s or next;
    $op = uc $op;
    if ($op eq 'FROM') {
        my ($image, $name) = $rest =~ /^(\S+)(?:\s+AS\s+(\S+))?/i;
        push @stages, { image => $image, name => $name // scalar(@stages),
                        workdir => '/', env => {}, copies => [], runs => [] };
        $stage{ $stages[-1]{name} } = $stages[-1];
        next;
    }
    die "instruction before FROM: $i" unless @stages;
    my $s = $stages[-1];
    if ($op eq 'WORKDIR') {
        $s->{workdir} = $rest =~ m{^/} ? $rest : "$s->{workdir}/$rest";
    } elsif ($op eq 'ENV') {
        while ($rest =~ /(\w+)=("[^"]*"|\S+)/g) {
            my ($k, $v) = ($1, $2);
            $v =~ s/^"(.*)"$/$1/;
            $s->{env}{$k} = $v;
        }
    } elsif ($op eq 'COPY' || $op eq 'ADD') {
        my $from;
        $from = $1 while $rest =~ s/^--from=(\S+)\s+//;
        $rest =~ s/^--\S+\s+//g;
        my $args = args_of($rest);
        my @w = ref $args ? @$args : split ' ', $args;
        my $dest = pop @w;
        push @{ $s->{copies} }, { op => $op, from => $from, srcs => [@w],
                                  dest => $dest, workdir => $s->{workdir} };
    } elsif ($op eq 'RUN') {
        push @{ $s->{runs} }, { cmd => args_of($rest), workdir => $s->{workdir} };
    } elsif ($op eq 'CMD' || $op eq 'ENTRYPOINT') {
        $s->{ lc $op } = args_of($rest);
    }
}

my ($build, $lex, $final) = (@stage{qw(build lexicons)}, $stages[-1]);
ok($build && $lex && @stages == 3,
   'three stages: build, lexicons and the image') or BAIL_OUT('unexpected stages');
is($_->{op}, 'COPY', "$_->{srcs}[0] is COPYed (not ADDed)")
    for map { @{ $_->{copies} } } @stages;
ok($final->{cmd} || $final->{entrypoint}, 'the image has a CMD or ENTRYPOINT');

# ---- .dockerignore ------------------------------------------------------

my @ignore;    # [regex, negated]
for my $p (split /\n/, slurp("$root/.dockerignore")) {
    $p =~ s/^\s+|\s+$//g;
    next if $p eq '' || $p =~ /^#/;
    my $neg = $p =~ s/^!//;
    $p =~ s{^/+}{};
    $p =~ s{/+$}{};
    my $re = '';
    while (length $p) {
        if    ($p =~ s{^\*\*/}{}) { $re .= '(?:.*/)?' }
        elsif ($p =~ s{^\*\*}{})  { $re .= '.*' }
        elsif ($p =~ s{^\*}{})    { $re .= '[^/]*' }
        elsif ($p =~ s{^\?}{})    { $re .= '[^/]' }
        else { $p =~ s{^(.)}{}s; $re .= quotemeta $1 }
    }
    push @ignore, [ qr/^$re$/, $neg ];
}

# excluded when the path or one of its parent folders matches (last
# matching pattern wins), as Docker's build context is filtered
sub ignored {
    my $rel = shift;
    my @parts = split m{/}, $rel;
    my $hit = 0;
    for my $pat (@ignore) {
        for my $n (1 .. @parts) {
            if (join('/', @parts[0 .. $n - 1]) =~ $pat->[0]) { $hit = !$pat->[1]; last }
        }
    }
    return $hit;
}
ok(ignored('build/ngx_pds_module.so') && ignored('t/js/node_modules/x')
   && ignored('pds.env') && !ignored('tools/pds-run'),
   '.dockerignore: build outputs, node_modules and pds.env are out of the context');

# ---- COPY sources in the build context ----------------------------------

for my $s (@stages) {
    for my $c (grep { !defined $_->{from} } @{ $s->{copies} }) {
        for my $src (@{ $c->{srcs} }) {
            (my $rel = $src) =~ s{^\./}{};
            $rel =~ s{/+$}{};
            ok(-e "$root/$rel", "stage $s->{name}: COPY $src: it exists in the repository");
            ok(!ignored($rel), "stage $s->{name}: COPY $src: not excluded by .dockerignore");
        }
    }
}

# ---- apt packages -------------------------------------------------------

SKIP: {
    skip 'apt-cache is not available', 1
        unless grep { -x "$_/apt-cache" } split /:/, $ENV{PATH} // '';
    for my $s (@stages) {
        for my $r (@{ $s->{runs} }) {
            next if ref $r->{cmd};
            for my $part (split /&&|;/, $r->{cmd}) {
                next unless $part =~ /apt-get\s+install\s+(.*)/;
                for my $pkg (grep { !/^-/ } split ' ', $1) {
                    my $out = `apt-cache show \Q$pkg\E 2>&1`;
                    ok($? == 0 && $out =~ /^Package: \Q$pkg\E$/m,
                       "stage $s->{name}: apt package $pkg exists in Debian");
                }
            }
        }
    }
}

# ---- emulated COPY --------------------------------------------------------

# a container path in a stage's scratch root
sub in_root { my ($r, $p) = @_; return $p =~ m{^/} ? "$r$p" : $p }

sub copy_tree {
    my ($from, $to, $rel_base) = @_;    # $rel_base: context-relative, for .dockerignore
    if (-l $from) { make_path(dirname $to); symlink(readlink $from, $to) or die "$to: $!"; return }
    if (-f $from) {
        make_path(dirname $to);
        copy($from, $to) or die "copy $from $to: $!";
        chmod((stat $from)[2] & 07777, $to);
        return;
    }
    make_path($to);
    opendir my $dh, $from or die "$from: $!";
    for my $e (grep { $_ ne '.' && $_ ne '..' } readdir $dh) {
        my $rel = defined $rel_base ? ($rel_base eq '' ? $e : "$rel_base/$e") : undef;
        next if defined $rel && ignored($rel);
        copy_tree("$from/$e", "$to/$e", $rel);
    }
}

# does a COPY into $dst_root; sources from the context or from $from_root
sub do_copy {
    my ($c, $dst_root, $from_root) = @_;
    my $dest = $c->{dest} =~ m{^/} ? $c->{dest} : "$c->{workdir}/$c->{dest}";
    $dest =~ s{/\./|/+}{/}g;
    my $dir_dest = $c->{dest} =~ m{/$} || $c->{dest} eq '.' || @{ $c->{srcs} } > 1;
    for my $src (@{ $c->{srcs} }) {
        my ($path, $rel);
        if (defined $from_root) {
            $path = in_root($from_root, $src);
        } else {
            ($rel = $src) =~ s{^\./}{};
            $rel =~ s{/+$}{};
            $path = "$root/$rel";
        }
        return 0 unless -e $path;
        my $to = in_root($dst_root, $dest);
        if (-d $path && !-l $path) {
            copy_tree($path, $to, $rel);
        } else {
            copy_tree($path, $dir_dest ? "$to/" . basename($path) : $to, $rel);
        }
    }
    return 1;
}

# ---- the build stage ------------------------------------------------------

my %sroot = map { $_->{name} => "$scratch/stage-$_->{name}" } @stages;
make_path($sroot{$_}) for keys %sroot;

for my $c (@{ $build->{copies} }) {
    ok(do_copy($c, $sroot{build}), "build: COPY @{ $c->{srcs} } $c->{dest}");
}
ok(!-e "$sroot{build}$build->{workdir}/build", 'build: no build outputs came in with the context');
my @build_runs = grep { ref $_->{cmd} || $_->{cmd} !~ /apt-get/ } @{ $build->{runs} };
ok(@build_runs, 'build: a RUN builds the module');
for my $r (@build_runs) {
    my $cmd = ref $r->{cmd} ? join(' ', map { "\Q$_\E" } @{ $r->{cmd} }) : $r->{cmd};
    my $cwd = in_root($sroot{build}, $r->{workdir});
    make_path($cwd);
    my $t0 = time;
    # two jobs, niced: the same build, sooner, on a shared machine
    my $out = `cd \Q$cwd\E && MAKEFLAGS=-j2 nice bash -c \Q$cmd\E 2>&1`;
    is($?, 0, sprintf("build: RUN %s (%.0f s)", $cmd, time - $t0)) or diag($out);
}

# what the image takes from the build stage must be there now
for my $c (grep { ($_->{from} // '') eq 'build' } @{ $final->{copies} }) {
    ok(-f in_root($sroot{build}, $_), "build: $_ is produced (the image COPYs it)")
        for @{ $c->{srcs} };
}

# ---- the Lexicons stage (not run: it needs the npm registry) --------------

{
    my @r = grep { !ref $_->{cmd} && $_->{cmd} =~ /\S*tools\/lexicons\b/ } @{ $lex->{runs} };
    is(scalar @r, 1, 'lexicons: one RUN calls tools/lexicons');
    my ($tool, $target, $cache) = ($r[0]{cmd} // '') =~ /(\S*tools\/lexicons)\s+(\S+)(?:\s+([^\s&;]+))?/;
    ok(defined $tool, 'lexicons: the RUN names the tool and its target folder');
    for my $c (@{ $lex->{copies} }) {
        ok(do_copy($c, $sroot{lexicons}), "lexicons: COPY @{ $c->{srcs} } $c->{dest}");
    }
    my $tool_at = in_root($sroot{lexicons}, $tool // '');
    ok(-f $tool_at, "lexicons: $tool was COPYed into the stage");
    my $src = slurp($tool_at);
    like($src, qr/target=\$\{1:/, 'lexicons: the tool writes into its first argument');
    like($src, qr/path\.join\(target, \.\.\.doc\.id\.split/, 'lexicons: one file per NSID under the target');
    ok($target && $target =~ m{^/}, "lexicons: the target ($target) is absolute");
    ok(!defined $cache || index($cache, "$target/") != 0,
       'lexicons: the npm cache is outside the folder the image copies');
    my @take = grep { ($_->{from} // '') eq 'lexicons' } @{ $final->{copies} };
    is(scalar @take, 1, 'the image COPYs from the lexicons stage once');
    is_deeply($take[0]{srcs}, [$target], "the image COPYs the tool's target ($target)");
    like($lex->{image}, qr/^node:(\d+)/, 'lexicons: a Node image');
    my ($major) = $lex->{image} =~ /^node:(\d+)/;
    cmp_ok($major // 0, '>=', 20, 'lexicons: a Node that loads today\'s @atproto/api (ESM)');

    # what the tool would write, stood in for by the shared schemas
    my $out = in_root($sroot{lexicons}, $target // '/lexicons');
    my $shared = $ENV{PDS_SHARED_DIR} || abs_path("$root/../shared") // '';
    if (-f "$shared/lexicons/app/bsky/feed/post.json") {
        copy_tree("$shared/lexicons/$_", "$out/$_") for grep { -d "$shared/lexicons/$_" } qw(app chat com tools);
    } else {
        make_path("$out/app/bsky/feed");
        write_file("$out/app/bsky/feed/post.json", <<'EOF');
{"lexicon":1,"id":"app.bsky.feed.post","defs":{"main":{"type":"record","key":"tid",
 "record":{"type":"object","required":["text","createdAt"],"properties":{
 "text":{"type":"string","maxLength":3000,"maxGraphemes":300},
 "createdAt":{"type":"string","format":"datetime"}}}}}}
EOF
    }
}

# ---- the image's file layout ---------------------------------------------

my $rt = $sroot{ $final->{name} };
for my $c (@{ $final->{copies} }) {
    my $from = defined $c->{from} ? $sroot{ $c->{from} } : undef;
    ok(!defined $c->{from} || $from, "image: COPY --from=$c->{from} names a stage")
        if defined $c->{from};
    ok(do_copy($c, $rt, $from), "image: COPY " . (defined $c->{from} ? "--from=$c->{from} " : '')
       . "@{ $c->{srcs} } $c->{dest}");
}
# apt's nginx, from the host (the same Debian package)
make_path("$rt/usr/sbin");
symlink($ngx, "$rt/usr/sbin/nginx") or die "symlink: $!";

my %env = %{ $final->{env} };
my $wd = in_root($rt, $final->{workdir});
ok(-f "$rt$env{MODULE}", "image: MODULE ($env{MODULE}) is there");
is(slurp("$rt$env{MODULE}"), slurp("$sroot{build}/src/build/ngx_pds_module.so"),
   'image: it is the module the build stage built') if -f "$sroot{build}/src/build/ngx_pds_module.so";
is($env{ROOT}, $final->{workdir}, 'image: ROOT is the WORKDIR');
ok(-x "$wd/tools/pds-run" || -f "$wd/tools/pds-run", 'image: tools/pds-run is in the WORKDIR');
ok(-f "$wd/tools/lexicons", 'image: tools/lexicons is in the WORKDIR (pds-run calls it)');
ok(-f "$rt$env{PDS_LEXICONS_DIR}/app/bsky/feed/post.json",
   "image: PDS_LEXICONS_DIR ($env{PDS_LEXICONS_DIR}) has the schemas (no npm at start)");
is($env{NGX_BIN}, '/usr/sbin/nginx', 'image: NGX_BIN is Debian\'s nginx');
ok(!-e "$wd/pds.env", 'image: no pds.env (secrets) came in with the context');
ok(!-e "$wd/tools/plc/node_modules", 'image: no host node_modules came in with the context');
for my $r (grep { !ref $_->{cmd} && $_->{cmd} =~ /^\s*cd\s+(\S+)\s*&&\s*npm\s+install/ } @{ $final->{runs} }) {
    my ($d) = $r->{cmd} =~ /^\s*cd\s+(\S+)/;
    my $at = $d =~ m{^/} ? "$rt$d" : in_root($rt, "$r->{workdir}/$d");
    ok(-f "$at/package.json", "image: RUN cd $d && npm install: $d/package.json is there");
}

# ---- its CMD, config only, then for real ---------------------------------

my $cmd = $final->{entrypoint} || $final->{cmd};
$cmd = [ 'sh', '-c', $cmd ] unless ref $cmd;
is_deeply($cmd, [qw(bash tools/pds-run)], 'image: the CMD runs tools/pds-run');
my $port = free_port();
my %run_env = (
    PATH => '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME => $scratch,
    (map { $_ => ($env{$_} =~ m{^/} ? "$rt$env{$_}" : $env{$_}) } keys %env),
    PDS_PORT => $port,
    PDS_HOSTNAME => 'pds.example.com',
    PDS_LISTEN => '127.0.0.1',
);

sub run_env_cmd {
    my @args = @_;
    my $env = join ' ', map { "$_=\Q$run_env{$_}\E" } sort keys %run_env;
    return "cd \Q$wd\E && env -i $env " . join(' ', map { "\Q$_\E" } @args);
}

my $out = `@{[run_env_cmd(@$cmd, '--config-only')]} 2>&1`;
is($?, 0, 'CMD --config-only: writes and checks the configuration') or diag($out);
my ($conf) = $out =~ /^(\/\S+nginx\.conf)$/m;
ok($conf && -f $conf, 'CMD --config-only: prints the path of nginx.conf') or diag($out);
$conf //= "$rt$env{PDS_DATA_DIRECTORY}/nginx.conf";
is($conf, "$rt$env{PDS_DATA_DIRECTORY}/nginx.conf", 'nginx.conf is in PDS_DATA_DIRECTORY');
unlike($out, qr/local PLC/, 'no local PLC directory for a public hostname');
my $text = slurp($conf);
like($text, qr/^\s*load_module \Q$rt$env{MODULE}\E;/m, 'nginx.conf loads the module from MODULE');
like($text, qr/^\s*pds_plc_url https:\/\/plc\.directory;/m, 'pds_plc_url https://plc.directory');
like($text, qr/^\s*pds_hostname pds\.example\.com;/m, 'pds_hostname from PDS_HOSTNAME');
like($text, qr/^\s*listen 127\.0\.0\.1:$port\b/m, 'listens on PDS_LISTEN:PDS_PORT');
like($text, qr/^\s*pds_data_dir \Q$rt$env{PDS_DATA_DIRECTORY}\E;/m, 'pds_data_dir is PDS_DATA_DIRECTORY');
like($text, qr/^\s*pds_lexicons \Q$rt$env{PDS_LEXICONS_DIR}\E;/m, 'pds_lexicons is PDS_LEXICONS_DIR');
ok(-s "$rt$env{PDS_DATA_DIRECTORY}/secrets/$_", "secret $_ generated in the data volume")
    for qw(admin_password jwt_secret plc_rotation_key);
my $dir = dirname($conf);
my $t = `\Q$ngx\E -t -p \Q$dir/\E -c \Q$conf\E -e stderr 2>&1`;
is($?, 0, 'nginx -t passes on the generated nginx.conf') or diag($t);
like($t, qr/test is successful/, 'nginx -t: test is successful');

# the CMD as the container runs it, on a loopback port
my $pid = fork() // die "fork: $!";
if ($pid == 0) {
    setsid();
    open STDOUT, '>', "$scratch/run.log";
    open STDERR, '>&', \*STDOUT;
    exec 'bash', '-c', run_env_cmd(@$cmd);
    exit 127;
}
$run_pgid = $pid;
ok(wait_port($port, 20), 'CMD: the PDS accepts connections') or diag(slurp("$scratch/run.log"));
# the master listens before its workers run: a first request may wait
my ($st, $body);
for (1 .. 40) {
    ($st, $body) = http_json('GET', "http://127.0.0.1:$port/xrpc/com.atproto.server.describeServer");
    last if ($st // 0) == 200;
    sleep 0.25;
}
is($st, 200, 'CMD: describeServer answers 200')
    or diag(ref $body ? explain($body) : $body, "\n", slurp("$scratch/run.log"));
is(ref $body eq 'HASH' ? $body->{did} : '', 'did:web:pds.example.com', 'CMD: the service DID is the hostname\'s');

diag(sprintf 'took %.0f s', time - $started);
done_testing();
