#!/usr/bin/env bash
# The lab tier of `make test`: prepares the lab (packages, guest kernel, initramfs; cached), builds the
# CNI plugins, boots the guest once and runs every scenario in it. Exits non-zero, loudly, when the lab
# cannot run or any scenario fails. Usage: run.sh [SCENARIO...] (default: all, see run-scenarios.sh)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
started=$(date +%s)

if ! env_file=$("$here/prepare.sh"); then
  echo "lab: FAILED: the emulated SR-IOV lab cannot run on this machine (see the prepare errors above)" >&2
  exit 1
fi
. "$env_file"
export LAB_KERNEL LAB_INITRD

(cd "$repo" && cargo build -p cni -p dataplane --bins)
export LAB_BIN=$target/debug
export LAB_KEEP="$repo $target"
export LAB_LOG=${LAB_LOG:-$target/lab/lab.log}

set +e
"$here/boot.sh" "$here/run-scenarios.sh" "$@"
rc=$?
set -e
echo "lab: tier took $(( $(date +%s) - started ))s in all (log: $LAB_LOG)"
[ $rc -eq 0 ] || echo "lab: FAILED (exit $rc)" >&2
exit $rc
