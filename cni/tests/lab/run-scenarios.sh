#!/usr/bin/env bash
# Runs the lab scenarios inside the guest, one after another in this single boot, resetting the lab
# (VFs, namespaces) before each. Prints one PASS/FAIL line per scenario and a closing
# "lab: N passed, N failed" line; exits 1 if any failed. Usage: run-scenarios.sh [SCENARIO...]
# (names or paths; default: every scenarios/*.sh in order). LAB_SCENARIO_TIMEOUT bounds each one.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

if [ $# -gt 0 ]; then
  scenarios=()
  for s in "$@"; do
    case "$s" in */*) scenarios+=("$s") ;; *) scenarios+=("$here/scenarios/${s%.sh}.sh") ;; esac
  done
else
  scenarios=("$here"/scenarios/*.sh)
fi

passed=0 failed=0 failures=()
for s in "${scenarios[@]}"; do
  name=$(basename "$s" .sh)
  echo "=== lab scenario $name"
  lab_reset
  start=$SECONDS
  if timeout --kill-after=10 "${LAB_SCENARIO_TIMEOUT:-300}" bash "$s"; then
    echo "=== PASS $name ($((SECONDS - start))s)"
    passed=$((passed + 1))
  else
    echo "=== FAIL $name ($((SECONDS - start))s)"
    failed=$((failed + 1))
    failures+=("$name")
  fi
done
lab_reset
[ $failed -eq 0 ] || echo "lab: failed scenarios: ${failures[*]}"
echo "lab: $passed passed, $failed failed"
[ $failed -eq 0 ]
