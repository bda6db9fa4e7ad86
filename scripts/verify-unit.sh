#!/usr/bin/env bash
# Verifies systemd/orderd.service with `systemd-analyze verify`.
# orderd is normally not installed where CI runs, so the check uses a copy of the unit whose
# ExecStart= points at an existing binary (/bin/true); everything else is verified as shipped.
# Usage: scripts/verify-unit.sh [UNIT_FILE]   (default: systemd/orderd.service)
# Exit status: non-zero when systemd-analyze fails or reports anything about the unit (it exits 0
# on unknown keys and bad values, which it only prints). Prints what it reports.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
unit="${1:-$here/systemd/orderd.service}"
analyze="${SYSTEMD_ANALYZE:-$(command -v systemd-analyze || echo /usr/bin/systemd-analyze)}"
[ -x "$analyze" ] || { echo "verify-unit: systemd-analyze not found" >&2; exit 2; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
sed -e 's|^ExecStart=/usr/local/bin/orderd |ExecStart=/bin/true |' "$unit" > "$work/orderd.service"
grep -q '^ExecStart=/bin/true ' "$work/orderd.service" || { echo "verify-unit: no ExecStart=/usr/local/bin/orderd line to rewrite" >&2; exit 2; }

echo "verify-unit: $("$analyze" --version | head -n1)"
set +e
output="$(cd "$work" && "$analyze" verify --man=no "$work/orderd.service" 2>&1)"
status=$?
set -e
[ -n "$output" ] && printf '%s\n' "$output"
# systemd-analyze may exit 0 yet print problems; anything that mentions our unit counts.
if [ $status -eq 0 ] && printf '%s\n' "$output" | grep -q 'orderd.service'; then
  status=1
fi
if [ $status -eq 0 ]; then echo "verify-unit: $unit OK"; else echo "verify-unit: FAILED (status $status)" >&2; fi
exit $status
