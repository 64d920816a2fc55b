#!/bin/bash
# Customise the mmdebstrap root file system of the appliance image (run on the host as root).
# Part of the image cache key: changing this file rebuilds the image.
set -euo pipefail
R=${1:?usage: customize-rootfs.sh ROOTFS}

# apt's package lists and caches are of no use in a guest without network
rm -rf "$R"/var/cache/apt/*.bin "$R"/var/lib/apt/lists/* "$R"/var/cache/apt/archives/*.deb
rm -rf "$R"/var/log/*.log "$R"/var/log/apt/*

# no udev, no systemd: nothing should try to talk to them
mkdir -p "$R"/persist "$R"/mnt/btrfs "$R"/zfs-targetd "$R"/etc/target "$R"/etc/exports.d \
         "$R"/var/lib/nfs/v4recovery "$R"/var/lib/nfs/nfsdcld "$R"/root
: > "$R"/etc/fstab
[ -e "$R"/etc/exports ] || : > "$R"/etc/exports
echo appliance > "$R"/etc/hostname
printf '127.0.0.1\tlocalhost\n127.0.1.1\tappliance\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$R"/etc/hosts
# ZFS without an /etc/hostid: hostid 0, no multihost checks
rm -f "$R"/etc/hostid

# a prompt that says where you are
cat > "$R"/root/.bashrc <<'EOF'
PS1='appliance:\w# '
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LVM_SUPPRESS_FD_WARNINGS=1
EOF
cp "$R"/root/.bashrc "$R"/root/.profile

# not needed in a RAM root file system
rm -rf "$R"/usr/share/locale "$R"/usr/share/zoneinfo/right "$R"/usr/share/zoneinfo/posix
du -sh "$R"
