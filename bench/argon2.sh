#!/usr/bin/env bash
# argon2id against the fastest implementation at hand: bench/argon2.sh [ROUNDS] [REPEATS]
#
# Times one argon2id verification on one thread at the default cost
# (m=19456 KiB, t=2, p=1) with Portcullis's release build (`portcullis
# hash-benchmark`) and with @node-rs/argon2 (a Rust implementation compiled
# into a Node addon, installed with npm under $CARGO_TARGET_DIR/bench-node
# when missing), alternating the two REPEATS times so that drift on a shared
# machine hits both alike. Prints each run, the medians and their ratio
# against the 1.15 target. Needs Node.js and npm.
#
# BENCH_BINARY=path/to/portcullis times another build instead of building.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds="${1:-20}"
repeats="${2:-5}"
memory_kib=19456 iterations=2 parallelism=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"

binary="${BENCH_BINARY:-}"
if [ -z "$binary" ]; then
    cargo build --release --quiet
    binary="$CARGO_TARGET_DIR/release/portcullis"
fi

export NODE_RS_ARGON2_DIR="$CARGO_TARGET_DIR/bench-node"
if [ ! -d "$NODE_RS_ARGON2_DIR/node_modules/@node-rs/argon2" ]; then
    echo "installing @node-rs/argon2 into $NODE_RS_ARGON2_DIR"
    mkdir -p "$NODE_RS_ARGON2_DIR"
    (cd "$NODE_RS_ARGON2_DIR" && [ -f package.json ] || echo '{"private":true}' >"$NODE_RS_ARGON2_DIR/package.json")
    npm install --prefix "$NODE_RS_ARGON2_DIR" --no-audit --no-fund --silent @node-rs/argon2 >/dev/null
fi
node_version="$(node -p "require('$NODE_RS_ARGON2_DIR/node_modules/@node-rs/argon2/package.json').version")"

ours=() theirs=()
for run in $(seq 1 "$repeats"); do
    line="$("$binary" hash-benchmark --rounds "$rounds" --hash-concurrency 1 \
        --argon2-memory-kib "$memory_kib" --argon2-iterations "$iterations" --argon2-parallelism "$parallelism")"
    ours+=("$(sed -E 's/.*: ([0-9.]+) ms per verification.*/\1/' <<<"$line")")
    backend="$(grep -oE '[A-Za-z0-9]+ fill\)' <<<"$line" | cut -d' ' -f1 || true)"
    theirs+=("$(node bench/argon2-node.mjs "$memory_kib" "$iterations" "$parallelism" "$rounds" | tail -n 1)")
    echo "run $run: Portcullis ${ours[-1]} ms, @node-rs/argon2 ${theirs[-1]} ms"
done

python3 - "$memory_kib" "$iterations" "$parallelism" "$rounds" "$backend" "$node_version" "${ours[*]}" "${theirs[*]}" <<'PY'
import statistics, sys
memory, iterations, lanes, rounds, backend, node_version, ours, theirs = sys.argv[1:]
ours = statistics.median(float(x) for x in ours.split())
theirs = statistics.median(float(x) for x in theirs.split())
ratio = ours / theirs
print()
print(f"argon2id m={memory} KiB t={iterations} p={lanes}, one verification on one thread, median of runs of {rounds}:")
print(f"| implementation | ms per verification |")
print(f"|---|---|")
print(f"| Portcullis ({backend or 'fill not reported'}) | {ours:.2f} |")
print(f"| @node-rs/argon2 {node_version} | {theirs:.2f} |")
print()
print(f"ratio {ratio:.3f} (target ≤ 1.15): {'met' if ratio <= 1.15 else 'MISSED'}")
PY
