#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The main job: replay a bundled real TCP trace (recorded by
# tests/data/make-traces.sh) through the RSC engine alone (rsc-replay) and
# through patched QEMU's virtio-net with a fake guest (qtest rsc/replay),
# and print what each delivered.
set -euo pipefail
cd "$(dirname "$0")/.."

trace=${1:-tests/data/ipv4-ts.pcap}
interval=${RSC_INTERVAL_NS:-300000}
qbuild=build/qemu-src/build

echo "== rsc-replay: $trace through the engine, interval ${interval} ns"
build/standalone/tools/rsc-replay --interval-ns "$interval" \
    --out-pcap build/demo-out.pcap --out-json build/demo-out.jsonl "$trace"

echo
echo "== patched QEMU: $trace through virtio-net-pci,guest_rsc_ext=on"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
log=build/demo-qtest.log
if ! RSC_REPLAY_TRACES="$PWD/$trace" RSC_REPLAY_OUT="$out" \
     QTEST_QEMU_BINARY=$qbuild/qemu-system-x86_64 \
     $qbuild/tests/qtest/qos-test \
     -p "$(bash scripts/qemu-test.sh --path rsc/replay)" > "$log" 2>&1; then
    cat "$log"
    echo "demo: the replay through QEMU failed" >&2
    exit 1
fi
python3 - "$out" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    print(f"frames in            {r['frames_in']}")
    print(f"packets to guest     {r['packets_out']}")
    print(f"data segments in     {r['data_segments_in']}")
    print(f"data packets out     {r['data_packets_out']}")
    print(f"coalescing ratio     {r['ratio']:.2f}")
    print(f"RSC_INFO packets     {r['rsc_info_packets']}")
    for f in r['flows']:
        ok = 'stream OK' if f['stream_ok'] else 'stream DIFFERS'
        print(f"  {f['flow']:<48} {f['segments_in']:>5} segs -> "
              f"{f['packets_out']:>4} pkts {f['bytes']:>8} bytes  {ok}")
PY
echo "(delivered packets of the engine run: build/demo-out.pcap, build/demo-out.jsonl)"
