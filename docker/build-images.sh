#!/usr/bin/env bash
# Builds multiplane's two images with buildah (no registry, no Docker engine), tests them, and
# exports them as OCI archives a node can `ctr -n k8s.io image import`:
#   localhost/multiplane-installer:<cni version>  (docker/installer/Containerfile)
#   localhost/multiplane-vnf:<dataplane version>  (docker/vnf/Containerfile)
# Both start from a local Debian 12 base made with mmdebstrap and cached outside the repository.
# Installs what it needs (buildah, mmdebstrap, jq, binutils) when missing. Root only. `make images`
# runs it. The images carry the release binaries without their debug sections.
#
# Env: IMAGES_CACHE (/var/cache/multiplane/images: the base rootfs), IMAGES_OUT (<cargo target
# dir>/images: build contexts and the OCI archives), DEBIAN_MIRROR (http://deb.debian.org),
# REFRESH_BASE=1 (make the base again), CARGO (cargo).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
cache=${IMAGES_CACHE:-/var/cache/multiplane/images}
out=${IMAGES_OUT:-$target/images}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org}
base_tar=$cache/debian-bookworm-minbase.tar
base_image=localhost/multiplane-base:bookworm
started=$(date +%s)

elapsed() { echo "$(( $(date +%s) - $1 ))s"; }
say() { echo "build-images: $*" >&2; }
version_of() { sed -n 's/^version = "\(.*\)"/\1/p' "$repo/$1/Cargo.toml" | head -1; }

missing=()
for p in buildah mmdebstrap jq binutils; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The base: Debian 12 minbase from the archive (main, updates, security), once.
[ "${REFRESH_BASE:-}" != 1 ] || rm -f "$base_tar"
if [ ! -f "$base_tar" ]; then
  step=$(date +%s)
  mkdir -p "$cache"
  mmdebstrap --quiet --variant=minbase --format=tar bookworm "$base_tar.tmp" \
    "deb $mirror/debian bookworm main" "deb $mirror/debian bookworm-updates main" \
    "deb $mirror/debian-security bookworm-security main"
  mv "$base_tar.tmp" "$base_tar"
  say "base rootfs made in $(elapsed "$step") ($base_tar)"
  new_base=yes
fi
if [ -n "${new_base:-}" ] || ! buildah inspect --type image "$base_image" >/dev/null 2>&1; then
  previous=$(buildah images --quiet "$base_image" 2>/dev/null || true)
  container=$(buildah from scratch)
  buildah add --quiet "$container" "$base_tar" / >/dev/null
  buildah commit --quiet --rm "$container" "$base_image" >/dev/null
  say "base image $base_image imported"
  [ -z "$previous" ] || buildah rmi "$previous" >/dev/null 2>&1 || true
fi

# The programs, as the README builds them.
step=$(date +%s)
cd "$repo"
"${CARGO:-cargo}" build --release -p cni --bin multus-daemon --bin multiplane-install \
  -p dataplane --bin vlan-firewall --bin port-info
release=$target/release
# The plugins a runtime starts on every ADD and DEL, statically linked (cni/build-static-plugins.sh).
static=$(CARGO="${CARGO:-cargo}" "$repo/cni/build-static-plugins.sh")
say "release binaries built in $(elapsed "$step")"
bin=$out/bin
mkdir -p "$bin"
for b in multus multus-shim sriov; do
  strip --strip-debug -o "$bin/$b" "$static/$b"
done
for b in multus-daemon multiplane-install vlan-firewall port-info; do
  strip --strip-debug -o "$bin/$b" "$release/$b"
done

# The Debian packages of the libraries the VNF binaries link, looked up on this (Debian 12) host;
# dpkg knows a file by the path its package ships, with or without the merged-/usr prefix.
package_of() {
  local path=$1 alias
  alias=$( [[ $path == /usr/* ]] && echo "${path#/usr}" || echo "/usr$path")
  dpkg -S "$path" 2>/dev/null || dpkg -S "$alias" 2>/dev/null || true
}
binary_packages=$(
  for program in vlan-firewall port-info; do
    ldd "$bin/$program" | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | while read -r lib; do
      package_of "$lib"; package_of "$(readlink -f "$lib")"
    done
  done | cut -d: -f1 | sort -u | tr '\n' ' '
)
say "the VNF binaries link libraries of: $binary_packages"

# Builds image $1 (tag $2) from docker/$1 with the given release binaries in its context.
build() {
  local name=$1 tag=$2 context=$out/context-$1 step previous
  shift 2
  step=$(date +%s)
  rm -rf "$context"; mkdir -p "$context"
  cp "$here/$name"/* "$here/collect-runtime.sh" "$context/"
  for b in "$@"; do cp "$bin/$b" "$context/"; done
  previous=$(buildah images --quiet "localhost/multiplane-$name:$tag" 2>/dev/null || true)
  buildah build --quiet --isolation chroot --pull=never \
    --build-arg "BASE=$base_image" --build-arg "BINARY_PACKAGES=$binary_packages" \
    -t "localhost/multiplane-$name:$tag" "$context" >/dev/null
  say "localhost/multiplane-$name:$tag built in $(elapsed "$step")"
  # The image this one replaces, unless something still uses it.
  [ -z "$previous" ] || buildah rmi "$previous" >/dev/null 2>&1 || true
}
installer_tag=$(version_of cni)
vnf_tag=$(version_of dataplane)
build installer "$installer_tag" multus multus-shim multus-daemon sriov multiplane-install
build vnf "$vnf_tag" vlan-firewall port-info

step=$(date +%s)
INSTALLER_IMAGE=localhost/multiplane-installer:$installer_tag VNF_IMAGE=localhost/multiplane-vnf:$vnf_tag \
  BIN_DIR=$bin "$here/test-images.sh"
say "images tested in $(elapsed "$step")"

for image in "multiplane-installer:$installer_tag" "multiplane-vnf:$vnf_tag"; do
  archive=$out/${image%%:*}.tar
  rm -f "$archive"
  buildah push --quiet "localhost/$image" "oci-archive:$archive:localhost/$image"
  # The name an importer (ctr image import) gives the image is the index's ref.name annotation.
  tar -xOf "$archive" index.json | jq -e --arg ref "localhost/$image" \
    '.manifests[0].annotations["org.opencontainers.image.ref.name"] == $ref' >/dev/null ||
    { say "FAIL: $archive does not name localhost/$image"; exit 1; }
  say "exported localhost/$image to $archive ($(du -h "$archive" | cut -f1))"
done
say "done in $(elapsed "$started")"
