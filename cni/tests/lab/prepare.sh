#!/usr/bin/env bash
# Prepares the emulated SR-IOV lab on a Debian 12 host, as root, idempotently:
#   1. apt: qemu-system-x86 10 from bookworm-backports (it has the SR-IOV `igb` device), busybox-static,
#      kmod (depmod/modprobe for dependency resolution), cpio, and what the scenarios run in the guest
#      (iproute2, DPDK, the reference CNI plugins);
#   2. the bookworm-backports 6.12 guest kernel (`apt-get download` + `dpkg-deb -x`);
#   3. a busybox initramfs with the lab's modules and their dependencies, decompressed from .ko.xz.
# Built artefacts are cached under $LAB_CACHE keyed by their inputs, so reruns take a second or two.
# On success prints the path of an env file defining LAB_KERNEL and LAB_INITRD.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${LAB_CACHE:-/var/cache/multiplane-lab}
# Everything the guest needs from the kernel beyond what Debian builds in (dependencies are added).
modules=(igb igbvf vfio vfio_iommu_type1 vfio-pci 9p 9pnet_virtio virtio_pci bridge veth 8021q macvlan)
packages=(busybox-static kmod cpio xz-utils iproute2 iputils-ping netcat-openbsd jq dpdk containernetworking-plugins)

die() { echo "lab prepare: FAILED: $*" >&2; exit 1; }
log() { echo "lab prepare: $*" >&2; }

[ "$(id -u)" = 0 ] || die "must run as root (installs packages, boots a guest with the host root shared)"
. /etc/os-release
[ "${VERSION_CODENAME:-}" = bookworm ] || die "needs Debian 12 (bookworm), found '${VERSION_CODENAME:-unknown}'"

apt_updated=
apt_update() { [ -n "$apt_updated" ] || { apt-get update -qq; apt_updated=1; }; }
apt_install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2; }

ensure_backports_source() {
  if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    log "adding bookworm-backports to apt sources"
    cat >/etc/apt/sources.list.d/multiplane-backports.sources <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    apt_updated=
  fi
  # The backports index may be missing even when the source is configured (fresh machine, cleaned lists).
  apt-cache policy 2>/dev/null | grep -q 'bookworm-backports' || apt_updated=
  apt_update
}

qemu_has_igb() { command -v qemu-system-x86_64 >/dev/null && qemu-system-x86_64 -device help 2>/dev/null | grep -q '"igb"'; }

ensure_packages() {
  local missing=() p
  for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    apt_update
    apt_install "${missing[@]}" || die "apt-get install ${missing[*]} failed"
  fi
  if ! qemu_has_igb; then
    log "installing qemu-system-x86 from bookworm-backports (bookworm's QEMU 7.2 lacks the igb device)"
    apt_install -t bookworm-backports qemu-system-x86 || die "cannot install qemu-system-x86 from bookworm-backports"
    qemu_has_igb || die "qemu-system-x86_64 has no igb device after install ($(qemu-system-x86_64 --version | head -1))"
  fi
  # The guest mounts a tmpfs here inside its read-only view of the host root, so the mount point must exist.
  mkdir -p /var/lib/cni
}

# The bookworm-backports kernel package that linux-image-amd64 points at, e.g. linux-image-6.12.95+deb12-amd64.
kernel_package() {
  apt-cache show linux-image-amd64/bookworm-backports 2>/dev/null |
    sed -n 's/^Depends: \(linux-image-[^ ]*-amd64\) (= \([^)]*\)).*/\1 \2/p' | head -1
}

# Prints the modules to insmod, dependencies first, one path relative to lib/modules/<kver> per line.
module_load_order() {
  local root=$1 kver=$2 m
  depmod -b "$root" "$kver"
  for m in "${modules[@]}"; do
    modprobe -d "$root" -S "$kver" --show-depends "$m" || die "module $m not found in kernel $kver"
  done | sed -n "s|^insmod $root/*lib/modules/$kver/\([^ ]*\).*|\1|p" | awk '!seen[$0]++'
}

build_initramfs() {
  local unpacked=$1 kver=$2 out=$3 stage rel
  stage=$(mktemp -d "$cache/stage.XXXXXX")
  mkdir -p "$stage"/{bin,dev,proc,sys,mnt,host,lib/modules}
  cp /bin/busybox "$stage/bin/busybox"
  cp "$here/initramfs-init" "$stage/init"
  chmod 755 "$stage/init"
  module_load_order "$unpacked" "$kver" >"$stage/order"
  while read -r rel; do
    mkdir -p "$stage/lib/modules/$(dirname "$rel")"
    case "$rel" in
      *.xz) xz -dc "$unpacked/lib/modules/$kver/$rel" >"$stage/lib/modules/${rel%.xz}" ;;
      *) cp "$unpacked/lib/modules/$kver/$rel" "$stage/lib/modules/$rel" ;;
    esac
  done <"$stage/order"
  sed 's/\.xz$//' "$stage/order" >"$stage/lib/modules/load-order"
  rm "$stage/order"
  (cd "$stage" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -1) >"$out.part"
  mv "$out.part" "$out"
  rm -rf "$stage"
}

ensure_boot_artefacts() {
  local pkg ver kver key dir dl unpacked
  read -r pkg ver < <(kernel_package) || die "no linux-image-amd64 in bookworm-backports (apt sources?)"
  kver=${pkg#linux-image-}
  # Key: kernel build, busybox build, module list and the scripts that shape the initramfs.
  key=$(printf '%s\n' "$pkg=$ver" "$(dpkg-query -W -f '${Version}' busybox-static)" "${modules[*]}" \
    "$(cat "$here/initramfs-init" "${BASH_SOURCE[0]}")" | sha256sum | cut -c1-16)
  dir="$cache/boot/$kver-$key"
  if [ ! -s "$dir/initramfs.gz" ] || [ ! -s "$dir/vmlinuz" ]; then
    log "building guest kernel + initramfs for $pkg $ver in $dir"
    mkdir -p "$cache/dl" "$dir"
    dl=$(mktemp -d "$cache/dl/get.XXXXXX")
    chown _apt "$dl" 2>/dev/null || true
    (cd "$dl" && apt-get download -qq "$pkg=$ver" >&2) || die "apt-get download $pkg=$ver failed"
    unpacked="$dl/root"
    dpkg-deb -x "$dl"/*.deb "$unpacked"
    cp "$unpacked/boot/vmlinuz-$kver" "$dir/vmlinuz"
    build_initramfs "$unpacked" "$kver" "$dir/initramfs.gz"
    rm -rf "$dl"
    # Artefacts of older inputs (other checkouts may still be using them for a while).
    find "$cache/boot" -mindepth 1 -maxdepth 1 -type d -mtime +1 ! -name "$(basename "$dir")" -exec rm -rf {} +
  fi
  cat >"$cache/boot/current.env" <<EOF
LAB_KERNEL=$dir/vmlinuz
LAB_INITRD=$dir/initramfs.gz
LAB_KVER=$kver
EOF
  echo "$cache/boot/current.env"
}

mkdir -p "$cache"
ensure_backports_source
ensure_packages
ensure_boot_artefacts
