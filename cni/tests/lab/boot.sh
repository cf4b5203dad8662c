#!/usr/bin/env bash
# Boots the lab guest once (q35 + intel-iommu, four igb SR-IOV PFs on two wires, host root over virtfs),
# runs COMMAND inside it (chrooted into the host root, see guest-stage.sh) and exits with its status.
# The guest console is shown live and kept in $LAB_LOG. Usage: boot.sh COMMAND [ARGS...]
# Reads LAB_KERNEL/LAB_INITRD (default: the env file prepare.sh wrote); every LAB_* variable in the
# environment is passed to COMMAND. LAB_TIMEOUT (s) bounds the whole boot; a hung guest is killed and
# boot.sh exits 75, as it does when QEMU aborts on an assertion of its own (so that run.sh can boot it
# once more).
# Wires (QEMU hubs): PF0 and PF2 share wire A, PF1 and PF3 share wire B, so a two-port VNF on VFs of
# PF0 and PF1 sits between endpoints on PF2 and PF3 (scenario 40-firewall-traffic).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }
if [ -z "${LAB_KERNEL:-}" ]; then
  . "${LAB_CACHE:-/var/cache/multiplane-lab}/boot/current.env"
fi
timeout_s=${LAB_TIMEOUT:-900}
LAB_LOG=${LAB_LOG:-$PWD/lab.log}
LAB_RUN=$(printf '%q ' "$@")
mkdir -p "$(dirname "$LAB_LOG")"

env_file=$(mktemp /tmp/multiplane-lab-env.XXXXXX)
trap 'rm -f "$env_file"' EXIT
for v in ${!LAB_@}; do printf '%s=%q\n' "$v" "${!v}"; done >"$env_file"

started=$(date +%s)
set +e
timeout --kill-after=15 "$timeout_s" qemu-system-x86_64 \
  -accel tcg -cpu max -smp 2 -m 2048 \
  -M q35,kernel-irqchip=split -device intel-iommu,intremap=on,caching-mode=on \
  -nodefaults -no-reboot -display none -monitor none -serial stdio \
  -kernel "$LAB_KERNEL" -initrd "$LAB_INITRD" \
  -append "console=ttyS0 intel_iommu=on iommu=pt panic=-1 loglevel=4 lab.init=$here/guest-stage.sh lab.env=$env_file" \
  -virtfs local,path=/,mount_tag=host,security_model=passthrough,readonly=on \
  -netdev hubport,id=n0,hubid=0 -netdev hubport,id=n1,hubid=1 \
  -netdev hubport,id=n2,hubid=0 -netdev hubport,id=n3,hubid=1 \
  -device pcie-root-port,id=rp0,slot=1 -device igb,bus=rp0,netdev=n0 \
  -device pcie-root-port,id=rp1,slot=2 -device igb,bus=rp1,netdev=n1 \
  -device pcie-root-port,id=rp2,slot=3 -device igb,bus=rp2,netdev=n2 \
  -device pcie-root-port,id=rp3,slot=4 -device igb,bus=rp3,netdev=n3 \
  </dev/null 2>&1 | tr -d '\r' | tee "$LAB_LOG"
qemu_rc=${PIPESTATUS[0]}
set -e
elapsed=$(( $(date +%s) - started ))

result=$(sed -n 's/^RESULT=\([0-9][0-9]*\)$/\1/p' "$LAB_LOG" | tail -1)
if [ -z "$result" ]; then
  if [ "$qemu_rc" = 124 ] || [ "$qemu_rc" = 137 ]; then
    echo "lab: FAILED: guest hung, killed after ${timeout_s}s (log: $LAB_LOG)" >&2
    exit 75
  elif [ "$qemu_rc" = 134 ] && grep -q '^qemu-system-x86_64: .*Assertion' "$LAB_LOG"; then
    # QEMU's own bug, seen once in scenario 45 while DPDK mapped memory through the vIOMMU
    # (physmem.c iotlb_to_section: section_index < d->map.sections_nb, multi-threaded TCG).
    echo "lab: FAILED: QEMU aborted on its own assertion: $(grep -m1 '^qemu-system-x86_64: .*Assertion' "$LAB_LOG") (log: $LAB_LOG)" >&2
    exit 75
  else
    echo "lab: FAILED: guest ended without a RESULT line, qemu exit $qemu_rc (log: $LAB_LOG)" >&2
  fi
  exit 1
fi
echo "lab: guest exited with $result after ${elapsed}s (log: $LAB_LOG)" >&2
exit "$result"
