#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# End to end: replay bundled traces through QEMU into the qtest's fake
# guest over a tap backend with a virtio-net header (needs root for the
# tap device), with our patched QEMU and with stock QEMU 10.0 built from
# the same Debian source without the series, RSC on and off.  Prints what
# the guest received and QEMU's CPU time per MB of TCP payload delivered.
#
#   bash bench/e2e.sh [REPEAT [TRACE...]]    (default 20, four traces)
#
# QEMU's CPU time includes serving the qtest protocol (the fake guest
# reads every byte it receives through it), which costs the same with RSC
# on and off per byte but more per packet: it is a relative measure.
set -euo pipefail
# shellcheck source=scripts/qemu-lib.sh
. "$(dirname "$0")/../scripts/qemu-lib.sh"

repeat=${1:-20}
shift || true
if [ $# -eq 0 ]; then
    set -- ipv4-ts ipv4-nots ipv6-ts ipv4-parallel
fi
traces=
for t in "$@"; do
    traces=${traces:+$traces:}$ROOT/tests/data/${t%.pcap}.pcap
done

if [ "$(id -u)" != 0 ]; then
    echo "e2e: skipped, the tap backend needs root (CAP_NET_ADMIN)"
    exit 0
fi

bash "$ROOT/scripts/qemu-build.sh" > /dev/null
patched=$QBUILD/qemu-system-x86_64
qos=$QBUILD/tests/qtest/qos-test

echo "e2e: building stock qemu-system-x86_64 in build/qemu-stock" >&2
stock=$(bash "$ROOT/scripts/qemu-stock.sh")

out=$ROOT/build/e2e
mkdir -p "$out"
for q in patched stock; do
    bin=$patched
    [ $q = stock ] && bin=$stock
    for mode in on off; do
        path=$(bash "$ROOT/scripts/qemu-test.sh" --path "rsc/e2e-$mode")
        QTEST_QEMU_BINARY=$bin RSC_E2E_TRACES=$traces \
            RSC_E2E_OUT=$out/$q-$mode.jsonl RSC_E2E_REPEAT=$repeat \
            "$qos" -p "$path" > "$out/$q-$mode.tap" 2>&1 ||
            die "qos-test $path with $q QEMU failed: see $out/$q-$mode.tap"
    done
done

python3 - "$out" "$repeat" <<'PY'
import json, os, sys

out, repeat = sys.argv[1], sys.argv[2]
print(f"each trace sent {repeat} times; CPU: QEMU process user+system")
print(f"{'trace':<14} {'QEMU':<8} {'RSC':<4} {'guest pkts':>10} "
      f"{'data pkts':>9} {'ratio':>6} {'streams':<8} {'CPU ms':>7} "
      f"{'CPU ms/MB':>9}")
rows = {}
for q in ('patched', 'stock'):
    for mode in ('on', 'off'):
        for line in open(os.path.join(out, f'{q}-{mode}.jsonl')):
            r = json.loads(line)
            rows.setdefault(os.path.basename(r['trace']), []).append((q, mode, r))
for trace, rs in rows.items():
    for q, mode, r in rs:
        mb = r['tcp_bytes_out'] / 1e6
        ok = all(f['stream_ok'] for f in r['flows'])
        cpu = r['qemu_cpu_ns'] / 1e6
        print(f"{trace.replace('.pcap', ''):<14} {q:<8} {mode:<4} "
              f"{r['packets_out']:>10} {r['data_packets_out']:>9} "
              f"{r['ratio']:>6.2f} {'intact' if ok else 'CORRUPT':<8} "
              f"{cpu:>7.0f} {cpu / mb if mb else 0:>9.1f}")
PY
