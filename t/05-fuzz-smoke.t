# A short run of every libFuzzer target (make fuzz runs them longer), when
# clang with libFuzzer is installed.  Each must build and find nothing.
use strict;
use warnings;
use Test::More;

my @targets = sort glob('t/fuzz/fuzz_*.c');
my $clang = `command -v clang 2>/dev/null`;
chomp $clang;
plan skip_all => 'clang is not installed' unless $clang;
plan skip_all => 'no fuzz targets' unless @targets;

my $seconds = $ENV{PDS_FUZZ_SMOKE_SECONDS} || 3;
my $out = ($ENV{PDS_BUILD_DIR} || 'build') . '/fuzz-smoke';
system('mkdir', '-p', $out);

my @core = sort glob('ngx_pds_module/core/*.c ngx_pds_module/core/*/*.c');
my @incs = map { "-I$_" } grep { -d } ('ngx_pds_module/core', glob('ngx_pds_module/core/*'));

for my $t (@targets) {
    my ($name) = $t =~ m{([^/]+)\.c$};
    my $bin = "$out/$name";
    my $log = `clang -g -O1 -fsanitize=fuzzer,address,undefined @incs -It/core @core $t -o $bin -lcrypto -ljansson -llmdb -lm 2>&1`;
    if ($? != 0) {
        fail("$name builds");
        diag $log;
        next;
    }
    my $run = `$bin -max_total_time=$seconds -print_final_stats=1 2>&1`;
    my ($execs) = $run =~ /stat::number_of_executed_units:\s*(\d+)/;
    ok($? == 0, "$name: ${seconds}s, " . ($execs // '?') . ' inputs, nothing found')
        or diag join "\n", (split /\n/, $run)[-30 .. -1];
}

done_testing();
