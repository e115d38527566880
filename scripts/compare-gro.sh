#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Coalescing ratio of the engine (rsc-replay, default interval) next to
# Linux GRO's on the receiving side of the same transfer, as recorded in
# tests/data/README.md, for every bundled trace.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 - "$@" <<'PY'
import re, subprocess, sys

gro = {}
for line in open('tests/data/README.md'):
    m = re.match(r'\| `([\w-]+)\.pcap` \|', line)
    if m:
        cells = [c.strip() for c in line.split('|')]
        pairs = re.findall(r'\((\d+)/(\d+)\)', cells[7])
        gro[m.group(1)] = (sum(int(a) for a, _ in pairs),
                           sum(int(b) for _, b in pairs))

print(f"{'trace':<16} {'segments':>8} {'GRO pkts':>8} {'RSC pkts':>8} "
      f"{'GRO ratio':>9} {'RSC ratio':>9}  streams")
worse = []
for name in sorted(gro):
    out = subprocess.run(['build/standalone/tools/rsc-replay', *sys.argv[1:],
                          f'tests/data/{name}.pcap'],
                         capture_output=True, text=True)
    vals = dict(re.findall(r'^(data segments in|data packets out)\s+(\d+)',
                           out.stdout, re.M))
    segs, pkts = int(vals['data segments in']), int(vals['data packets out'])
    gsegs, gpkts = gro[name]
    ok = 'OK' if out.returncode == 0 else 'DIFFER'
    print(f"{name:<16} {segs:>8} {gpkts:>8} {pkts:>8} "
          f"{gsegs / gpkts:>9.2f} {segs / pkts:>9.2f}  {ok}")
    if pkts > gpkts:
        worse.append(name)
if worse:
    print("fewer merged than Linux GRO:", ", ".join(worse))
PY
