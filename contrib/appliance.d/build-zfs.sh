#!/bin/bash
# Build the ZFS kernel modules on the host against the guest kernel's headers, and lay out the
# ZFS archive tree ($WORK/out: modules, updated modules.dep, zfsutils-linux and its libraries).
# Called by contrib/appliance with: ABI (e.g. 6.1.0-56-cloud-amd64), DEBS (downloaded .debs:
# zfs-dkms, zfsutils-linux, lib*linux, linux-headers-*, linux-kbuild-*), WORK (scratch dir),
# KMODS (the unpacked kernel package: usr/lib/modules/$ABI), JOBS.
set -euo pipefail
: "${ABI:?}" "${DEBS:?}" "${WORK:?}" "${KMODS:?}" "${JOBS:=2}"

H=$WORK/headers
OUT=$WORK/out
B=$WORK/build
rm -rf "$H" "$OUT" "$B"
mkdir -p "$H" "$OUT" "$B"

echo "== unpack headers"
for d in "$DEBS"/linux-headers-*.deb "$DEBS"/linux-kbuild-*.deb; do dpkg-deb -x "$d" "$H"; done
OBJ=$H/usr/src/linux-headers-$ABI
SRC=$H/usr/src/linux-headers-${ABI%-cloud-amd64}-common
[ -d "$OBJ" ] && [ -d "$SRC" ] || { echo "headers not found under $H/usr/src" >&2; exit 1; }
# the flavour's Makefile includes the -common tree by absolute path
sed -i "s#include /usr/src/#include $H/usr/src/#" "$OBJ/Makefile"

echo "== unpack zfs-dkms"
dpkg-deb -x "$DEBS"/zfs-dkms_*.deb "$B/dkms"
ZSRC=$(echo "$B"/dkms/usr/src/zfs-*)
cd "$ZSRC"

echo "== configure"
./configure --with-config=kernel --with-linux="$SRC" --with-linux-obj="$OBJ" \
    --prefix=/usr >"$B/configure.log" 2>&1 || { tail -n 60 "$B/configure.log"; tail -n 80 config.log; exit 1; }
tail -n 5 "$B/configure.log"

echo "== make -j$JOBS"
make -j"$JOBS" >"$B/make.log" 2>&1 || { tail -n 80 "$B/make.log"; exit 1; }
tail -n 3 "$B/make.log"

echo "== modules"
M=$OUT/usr/lib/modules/$ABI/extra/zfs
mkdir -p "$M"
find module -name '*.ko' -exec cp {} "$M/" \;
strip --strip-debug "$M"/*.ko
ls -l "$M"

echo "== depmod with the kernel's own modules"
D=$B/depmod
mkdir -p "$D/lib/modules"
cp -al "$KMODS/usr/lib/modules/$ABI" "$D/lib/modules/$ABI"
mkdir -p "$D/lib/modules/$ABI/extra"
cp -a "$M" "$D/lib/modules/$ABI/extra/"
depmod -b "$D" "$ABI"
cp "$D"/lib/modules/"$ABI"/modules.* "$OUT/usr/lib/modules/$ABI/"
grep -q 'extra/zfs/zfs.ko' "$OUT/usr/lib/modules/$ABI/modules.dep"

echo "== zfsutils-linux and its libraries"
U=$B/utils
for p in zfsutils-linux libnvpair3linux libuutil3linux libzfs4linux libzpool5linux; do
    dpkg-deb -x "$DEBS"/${p}_*.deb "$U"
done
# merged /usr, as the image
for d in bin sbin lib lib64; do
    if [ -d "$U/$d" ] && [ ! -L "$U/$d" ]; then
        mkdir -p "$U/usr/$d"
        cp -a "$U/$d/." "$U/usr/$d/"
        rm -rf "${U:?}/$d"
    fi
done
rm -rf "$U"/usr/share/doc "$U"/usr/share/man "$U"/usr/share/zsh "$U"/usr/share/bash-completion \
       "$U"/etc/init.d "$U"/etc/default "$U"/usr/lib/systemd "$U"/etc/systemd "$U"/etc/cron.d \
       "$U"/usr/share/initramfs-tools "$U"/etc/zfs/zed.d
cp -a "$U/." "$OUT/"
# absolute symlinks (e.g. /usr/bin/zfs -> /sbin/zfs) are fine in the guest's merged /usr
echo "== done"
du -sh "$OUT"
