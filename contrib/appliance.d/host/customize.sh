#!/bin/bash
# Customise the mmdebstrap tree of the storage-host image (run on the host as root), before
# it becomes the guest's ext4 root disk. Part of the storage-host image's cache key.
# The guest is an ordinary Debian 12 system (systemd, udev); this only does what an
# administrator would do on a fresh install without network: fstab, hostname, a static
# address on the user-mode network, apt pointed at the local repository disk, and the exec
# agent as a service.
set -euo pipefail
R=${1:?usage: customize.sh ROOTFS}
HERE=$(dirname "$(readlink -f "$0")")

cat > "$R"/etc/fstab <<'FSTAB'
LABEL=storagehost-root  /                 ext4  errors=remount-ro           0 1
# the apt repository disk the host prepares (contrib/appliance repo); absent = no repository
LABEL=targetd-repo      /srv/targetd-repo ext4  ro,noload,nofail,x-systemd.device-timeout=300s 0 0
FSTAB
mkdir -p "$R"/srv/targetd-repo
echo storagehost > "$R"/etc/hostname
printf '127.0.0.1\tlocalhost\n127.0.1.1\tstoragehost\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$R"/etc/hosts

# QEMU user-mode networking (restrict=on: the guest reaches nothing): a static address, so
# that the forwarded API and agent ports reach the guest; no default route, no DNS
mkdir -p "$R"/etc/systemd/network
cat > "$R"/etc/systemd/network/10-qemu-user.network <<'NET'
[Match]
Name=en* eth*

[Network]
Address=10.0.2.15/24
LinkLocalAddressing=no
IPv6AcceptRA=no
NET
chroot "$R" systemctl enable -q systemd-networkd.service

# apt reads only the local repository disk (a flat repository: Packages and Release at the
# top, made by apt-ftparchive on the host); the mirror's lists are of no use here
rm -f "$R"/etc/apt/sources.list "$R"/etc/apt/sources.list.d/*
cat > "$R"/etc/apt/sources.list.d/targetd-local.sources <<'SRC'
Types: deb
URIs: file:/srv/targetd-repo
Suites: ./
Trusted: yes
SRC
rm -rf "$R"/var/cache/apt/*.bin "$R"/var/lib/apt/lists/* "$R"/var/cache/apt/archives/*.deb
# timers that would reach for the network
chroot "$R" systemctl mask -q apt-daily.timer apt-daily-upgrade.timer
# mmdebstrap leaves its --dpkgopt settings (no man pages, docs) in the image: packages
# installed later in the guest get all their files, as on any Debian system
rm -f "$R"/etc/dpkg/dpkg.cfg.d/99mmdebstrap

# the exec agent: a service that takes its code and token from QEMU's fw_cfg at every boot
install -m 0755 "$HERE"/agent-start "$R"/usr/local/sbin/appliance-agent-start
install -m 0644 "$HERE"/appliance-agent.service "$R"/etc/systemd/system/appliance-agent.service
chroot "$R" systemctl enable -q appliance-agent.service

# QEMU boots the image's kernel and initrd from the host (-kernel/-initrd), never the guest's
# /boot: regenerating it when packages trigger initramfs-tools (lvm2 does) took >10 min under
# TCG and is never used
sed -i 's/^update_initramfs=.*/update_initramfs=no/' "$R"/etc/initramfs-tools/update-initramfs.conf
grep -q '^update_initramfs=no$' "$R"/etc/initramfs-tools/update-initramfs.conf

# dpkg under TCG: no fsync per unpacked file (a disposable test guest; a crash mid-install
# is not what these tests are about), no man-db index rebuild on every package with man pages
echo force-unsafe-io > "$R"/etc/dpkg/dpkg.cfg.d/storagehost-unsafe-io
rm -f "$R"/var/lib/man-db/auto-update
# boot time under TCG: ZFS's module and import units pull in systemd-udev-settle (40 s and
# more) to import pools that a fresh storage host does not have (zpool/zfs load the module
# when first used; an administrator who makes a pool enables them again)
for u in zfs-load-module.service zfs-import-cache.service zfs-import-scan.service; do
    [ ! -e "$R"/lib/systemd/system/$u ] || chroot "$R" systemctl disable -q $u
done

# TCG on a machine shared with other VMs can be 10x slower than hardware: a module load
# inside a mount (proc-fs-nfsd.mount loads nfsd) took over systemd's default 90 s at load 16
# and failed nfs-server at boot. Start-up is allowed 10 min here; a unit that sets its own
# TimeoutStartSec keeps it.
mkdir -p "$R"/etc/systemd/system.conf.d
printf '[Manager]\nDefaultTimeoutStartSec=600s\n' > "$R"/etc/systemd/system.conf.d/storagehost-tcg.conf

# ZFS without an /etc/hostid: hostid 0, as in the appliance
rm -f "$R"/etc/hostid
cat > "$R"/root/.bashrc <<'RC'
PS1='storagehost:\w# '
RC
cp "$R"/root/.bashrc "$R"/root/.profile
: > "$R"/etc/machine-id   # a new machine id at every instance's first boot
du -sh "$R"
