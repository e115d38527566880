#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The replay through QEMU (qtest rsc/replay, report written by
# scripts/qemu-test.sh) must deliver exactly what the engine alone
# (rsc-replay) delivers at the same interval: same data packets, same
# ratio, streams intact.
set -euo pipefail
cd "$(dirname "$0")/.."

report=${1:-build/qemu-test/replay.jsonl}
[ -s "$report" ] || { echo "check-replay-ratio: no $report" >&2; exit 1; }
python3 - "$report" <<'PY'
import json, re, subprocess, sys

bad = 0
print(f"{'trace':<22} {'segments':>8} {'QEMU pkts':>9} {'engine pkts':>11} "
      f"{'ratio':>6}  streams")
for line in open(sys.argv[1]):
    q = json.loads(line)
    out = subprocess.run(['build/standalone/tools/rsc-replay',
                          '--interval-ns', '300000', q['trace']],
                         capture_output=True, text=True)
    v = dict(re.findall(r'^(data segments in|data packets out)\s+(\d+)',
                        out.stdout, re.M))
    pkts = int(v['data packets out'])
    ok = (out.returncode == 0 and all(f['stream_ok'] for f in q['flows'])
          and pkts == q['data_packets_out']
          and int(v['data segments in']) == q['data_segments_in'])
    bad += not ok
    print(f"{q['trace'].split('/')[-1]:<22} {q['data_segments_in']:>8} "
          f"{q['data_packets_out']:>9} {pkts:>11} {q['ratio']:>6.2f}  "
          f"{'OK' if ok else 'MISMATCH'}")
sys.exit(1 if bad else 0)
PY
