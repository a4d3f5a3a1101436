# What nginx -t refuses before a PDS could fail at run time (each with a
# message naming the directory or directive and the fix): a data directory
# the worker user cannot read and write, two tenants whose data
# directories are one directory after symbolic links and extra slashes,
# a map too small to work, a handle domain claimed by two tenants.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use PDSTest qw(scratch_dir nginx_test module_path free_port);

my $module = module_path();
my $port = free_port();

sub tenant {
    my ($host, $data, $extra) = @_;
    $extra //= '';
    return <<"END";
    server {
        listen 127.0.0.1:$port;
        server_name $host;
        pds_hostname $host;
        pds_data_dir $data;
        pds_admin_password admin-$host;
        pds_jwt_secret jwt-$host;
        pds_plc_rotation_key 8a4b1c5e1b2b3a0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d;
        $extra
        location / { pds; }
    }
END
}

sub conf {
    my ($dir, $main, @servers) = @_;
    return <<"END";
load_module $module;
$main
pid $dir/nginx.pid;
events { worker_connections 64; }
http {
    client_body_temp_path $dir/tmp;
@{[ join '', @servers ]}
}
END
}

# a data directory under a folder only root may enter, workers as nobody
SKIP: {
    skip 'needs root (the workers change user only then)', 3 unless $> == 0;
    my $dir = scratch_dir();
    mkdir "$dir/private", 0700 or die $!;
    my ($rc, $out) = nginx_test($dir, conf($dir, 'user nobody nogroup;',
                                           tenant('a.example.com', "$dir/private/data")));
    isnt($rc, 0, 'unreachable data directory: nginx -t fails');
    like($out, qr/the worker user "nobody" cannot read and write "\Q$dir\E\/private\/data\/lmdb"/,
         '... naming the user and the directory');
    like($out, qr/chmod o\+x/, '... and the fix');
}

{
    my $dir = scratch_dir();
    mkdir "$dir/data-a" or die $!;
    symlink "$dir/data-a", "$dir/data-b" or die $!;
    my ($rc, $out) = nginx_test($dir, conf($dir, '',
                                           tenant('a.example.com', "$dir/data-a"),
                                           tenant('b.example.com', "$dir/data-b")));
    isnt($rc, 0, 'two tenants, one directory through a symbolic link: refused');
    like($out, qr/are the same directory .*every PDS needs its own pds_data_dir/, '... says so');

    ($rc, $out) = nginx_test($dir, conf($dir, '',
                                        tenant('a.example.com', "$dir/data-a"),
                                        tenant('c.example.com', "$dir//data-a/")));
    isnt($rc, 0, '... and through extra slashes');
    like($out, qr/are the same directory/, '... says so');
}

{
    my $dir = scratch_dir();
    my ($rc, $out) = nginx_test($dir, conf($dir, '',
                                           tenant('a.example.com', "$dir/data", 'pds_lmdb_map_size 1m;')));
    isnt($rc, 0, 'a 1m LMDB map: refused');
    like($out, qr/"pds_lmdb_map_size" must be at least 16m/, '... naming the minimum');
}

{
    my $dir = scratch_dir();
    my ($rc, $out) = nginx_test($dir, conf($dir, '',
        tenant('a.example.com', "$dir/data-a", 'pds_handle_domains .users.example .a.example.com;'),
        tenant('b.example.com', "$dir/data-b", 'pds_handle_domains .USERS.example;')));
    isnt($rc, 0, 'one handle domain for two tenants: refused');
    like($out, qr/handle domain "\.users\.example" of "b\.example\.com" .* is already the handle domain of "a\.example\.com"/,
         '... naming both');

    ($rc, $out) = nginx_test($dir, conf($dir, '',
        tenant('a.example.com', "$dir/data-a"),
        tenant('b.example.com', "$dir/data-b")));
    is($rc, 0, 'distinct directories and domains pass') or diag $out;
}

# missing folders above a data directory are made, traversable by the
# worker user (the README's /var/lib/pds/<host> on a fresh machine)
SKIP: {
    skip 'needs root (the workers change user only then)', 3 unless $> == 0;
    # under /tmp: the checkout itself may sit in a folder only root enters
    require File::Temp;
    my $dir = File::Temp::tempdir('pds-t09-XXXXXX', DIR => '/tmp', CLEANUP => 1);
    chmod 0755, $dir;
    mkdir "$dir/tmp";
    my ($rc, $out) = nginx_test($dir, conf($dir, 'user nobody nogroup;',
                                           tenant('a.example.com', "$dir/var/lib/pds/a.example.com")));
    is($rc, 0, 'a data directory whose parents do not exist yet: nginx -t passes') or diag $out;
    ok(-d "$dir/var/lib/pds/a.example.com/lmdb", '... the folders were made');
    is((stat "$dir/var/lib/pds")[2] & 07777, 0755, '... the ones above it 0755');
}

done_testing();
