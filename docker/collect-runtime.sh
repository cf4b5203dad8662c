#!/bin/bash
# Runs inside an image's first build stage: copies each FILE, and every shared library it loads
# (ldd, followed through symlinks), into OUT at the same canonical path, so that a final stage can
# `COPY --from=... OUT/ /` exactly what its programs need.
#
# Usage: collect-runtime.sh [--skip-listed LIST] [--root-links] OUT FILE...
#   --skip-listed LIST  leave out files named in LIST (one path a line: what the final base holds)
#   --root-links        also copy the merged-/usr links (/lib, /lib64, /bin, /sbin) for a FROM scratch
#                       image, where the programs' interpreter path (/lib64/ld-linux-...) must resolve
set -euo pipefail

skip_list=/dev/null
root_links=no
while [ $# -gt 0 ]; do
  case $1 in
    --skip-listed) skip_list=$2; shift 2 ;;
    --root-links) root_links=yes; shift ;;
    *) break ;;
  esac
done
out=${1:?usage: collect-runtime.sh [--skip-listed LIST] [--root-links] OUT FILE...}
shift
mkdir -p "$out"

declare -A seen=()

# Copies PATH (a file or a symlink, under its canonical directory) and, for a symlink, its target.
copy_path() {
  local dir name path
  dir=$(realpath "$(dirname "$1")")
  name=$(basename "$1")
  path=$dir/$name
  [ -z "${seen[$path]:-}" ] || return 0
  seen[$path]=1
  if ! grep -qxF "$path" "$skip_list"; then
    mkdir -p "$out$dir"
    cp -a "$path" "$out$dir/"
  fi
  if [ -L "$path" ]; then
    copy_path "$(readlink -f "$path")"
  fi
}

# Copies FILE and the libraries it needs; a library ldd cannot find is an error.
collect() {
  local file=$1 deps
  copy_path "$file"
  deps=$(ldd "$file" 2>&1) || { [[ $deps == *"not a dynamic executable"* ]] && return 0; echo "$deps" >&2; return 1; }
  if grep -q 'not found' <<<"$deps"; then
    echo "collect-runtime: $file needs libraries this stage lacks:" >&2
    grep 'not found' <<<"$deps" >&2
    return 1
  fi
  local lib
  for lib in $(awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' <<<"$deps"); do
    copy_path "$lib"
  done
}

for file in "$@"; do
  collect "$file"
done
if [ "$root_links" = yes ]; then
  for link in /bin /lib /lib64 /sbin; do
    [ -L "$link" ] && cp -a "$link" "$out/"
  done
fi
echo "collect-runtime: ${#seen[@]} files for $# programs into $out"
