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

(cd "$repo" && cargo build -p cni -p dataplane --bins && cargo build -p benches --bin vlan-traffic)
export LAB_BIN=$target/debug
export LAB_KEEP="$repo $target"
export LAB_LOG=${LAB_LOG:-$target/lab/lab.log}

set +e
"$here/boot.sh" "$here/run-scenarios.sh" "$@"
rc=$?
if [ $rc -eq 75 ]; then
  # Seen once on a loaded 2-core host: a TCG vCPU stops taking timer interrupts (RCU stall reports on
  # the console), the guest wedges and every scenario times out. That is the emulator, not a scenario
  # result, so the guest is booted once more; its first log is kept beside the new one.
  mv "$LAB_LOG" "$LAB_LOG.hung"
  echo "lab: the emulator failed (a hung guest or a QEMU assertion, log: $LAB_LOG.hung); booting it once more" >&2
  "$here/boot.sh" "$here/run-scenarios.sh" "$@"
  rc=$?
fi
set -e
echo "lab: tier took $(( $(date +%s) - started ))s in all (log: $LAB_LOG)"
[ $rc -eq 0 ] || echo "lab: FAILED (exit $rc)" >&2
exit $rc
