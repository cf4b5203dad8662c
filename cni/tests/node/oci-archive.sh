#!/usr/bin/env bash
# Packs directory ROOTFS as a one-layer OCI image archive (an image layout in a tar, as
# `ctr image import` reads it) named REF, with ENTRYPOINT (a JSON list).
# Usage: oci-archive.sh ROOTFS REF ENTRYPOINT OUT.tar
set -euo pipefail
rootfs=${1:?rootfs} ref=${2:?ref} entrypoint=${3:?entrypoint} out=${4:?out}
layout=$(mktemp -d); trap 'rm -rf "$layout"' EXIT
blobs=$layout/blobs/sha256
mkdir -p "$blobs"

# Stores stdin as a blob; prints "<hex digest> <size>".
blob() {
  local tmp=$layout/blob.tmp digest
  cat > "$tmp"
  digest=$(sha256sum "$tmp" | cut -d' ' -f1)
  mv "$tmp" "$blobs/$digest"
  echo "$digest $(stat -c %s "$blobs/$digest")"
}

# An uncompressed layer: its digest is also its diff ID.
read -r layer layer_size < <(tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 \
  -C "$rootfs" -cf - . | blob)
read -r config config_size < <(printf '%s' "{\"architecture\":\"amd64\",\"os\":\"linux\",\
\"config\":{\"Entrypoint\":$entrypoint,\"Env\":[\"PATH=/bin:/sbin:/usr/bin:/usr/sbin\"],\"WorkingDir\":\"/\"},\
\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:$layer\"]}}" | blob)
read -r manifest manifest_size < <(printf '%s' "{\"schemaVersion\":2,\
\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\
\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:$config\",\"size\":$config_size},\
\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"sha256:$layer\",\"size\":$layer_size}]}" | blob)
printf '%s' "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\
\"digest\":\"sha256:$manifest\",\"size\":$manifest_size,\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"},\
\"annotations\":{\"io.containerd.image.name\":\"$ref\",\"org.opencontainers.image.ref.name\":\"${ref##*:}\"}}]}" \
  > "$layout/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' > "$layout/oci-layout"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$layout" -cf "$out.tmp" oci-layout index.json blobs
mv "$out.tmp" "$out"
