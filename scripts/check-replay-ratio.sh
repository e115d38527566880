#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The replays through QEMU (qtests rsc/replay with guest_rsc_ext=on and
# rsc/replay-gso with rx_coalesce=on, reports written by
# scripts/qemu-test.sh) must deliver exactly what the engine alone
# (rsc-replay, in the same mode) delivers at the same interval: same data
# packets, same ratio, streams intact.
#
#   bash scripts/check-replay-ratio.sh [RSC_REPORT [GSO_REPORT]]
set -euo pipefail
cd "$(dirname "$0")/.."

rsc_report=${1:-build/qemu-test/replay.jsonl}
gso_report=${2:-build/qemu-test/replay-gso.jsonl}
for r in "$rsc_report" "$gso_report"; do
    [ -s "$r" ] || { echo "check-replay-ratio: no $r" >&2; exit 1; }
done
python3 - "$rsc_report" "$gso_report" <<'PY'
import glob, json, os, re, subprocess, sys

bad = 0
traces = sorted(os.path.basename(t) for t in glob.glob('tests/data/*.pcap'))
print(f"{'mode':<8} {'trace':<22} {'segments':>8} {'QEMU pkts':>9} "
      f"{'engine pkts':>11} {'ratio':>6}  streams")
for mode, report in (('rsc-ext', sys.argv[1]), ('gso', sys.argv[2])):
    seen = set()
    for line in open(report):
        q = json.loads(line)
        seen.add(os.path.basename(q['trace']))
        out = subprocess.run(['build/standalone/tools/rsc-replay',
                              '--mode', mode, '--interval-ns', '300000',
                              q['trace']],
                             capture_output=True, text=True)
        v = dict(re.findall(r'^(data segments in|data packets out)\s+(\d+)',
                            out.stdout, re.M))
        pkts = int(v['data packets out'])
        ok = (out.returncode == 0 and all(f['stream_ok'] for f in q['flows'])
              and pkts == q['data_packets_out']
              and int(v['data segments in']) == q['data_segments_in'])
        bad += not ok
        print(f"{mode:<8} {q['trace'].split('/')[-1]:<22} "
              f"{q['data_segments_in']:>8} {q['data_packets_out']:>9} "
              f"{pkts:>11} {q['ratio']:>6.2f}  {'OK' if ok else 'MISMATCH'}")
    for t in traces:
        if t not in seen:
            print(f"{mode:<8} {t:<22} not replayed through QEMU")
            bad += 1
sys.exit(1 if bad else 0)
PY
