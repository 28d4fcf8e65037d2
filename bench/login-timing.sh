#!/usr/bin/env bash
# Unknown accounts against wrong passwords, timed: bench/login-timing.sh [ROUNDS]
#
# Logging in to an account that does not exist must take as long as a wrong
# password for a real one (a dummy argon2id verification at the same cost), or
# the answer time tells which addresses have accounts. The test suite checks
# this by counting verifications (`abuse.rs`), which a busy machine cannot
# upset; this script times it, on a quiet machine: it starts the release build
# on a fresh SQLite database at the default argon2id cost with the rate limits
# off, alternates ROUNDS logins of each kind, and prints both medians and their
# ratio. The ceiling: the ratio stays within 0.5-2.0, the band the test it
# replaces asserted (exit status 1 beyond).
#
# BENCH_BINARY=path/to/portcullis times another build instead of building.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds="${1:-30}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
binary="${BENCH_BINARY:-}"
if [ -z "$binary" ]; then
    cargo build --release --quiet
    binary="$CARGO_TARGET_DIR/release/portcullis"
fi

work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
DATABASE_URL="sqlite://$work/timing.db" BIND_ADDR="127.0.0.1:$port" \
    RATE_LIMIT_PER_MINUTE=0 LOGIN_BACKOFF_FAILURES=0 EMAIL_VERIFICATION=off RUST_LOG=warn \
    "$binary" serve >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
    if curl -fs "$base/readyz" >/dev/null; then break; fi
    sleep 0.1
done

post() { curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -H 'Content-Type: application/json' -d "$2" "$base$1"; }
post /register '{"username":"ada","email":"ada@example.com","password":"timing passphrase 2026"}' >/dev/null

unknown=() wrong=()
for n in $(seq 1 "$rounds"); do
    read -r status seconds < <(post /login "{\"email\":\"nobody$n@example.com\",\"password\":\"not the password\"}")
    [ "$status" = 401 ] || { echo "unknown account: $status" >&2; exit 2; }
    unknown+=("$seconds")
    read -r status seconds < <(post /login '{"email":"ada@example.com","password":"not the password"}')
    [ "$status" = 401 ] || { echo "wrong password: $status" >&2; exit 2; }
    wrong+=("$seconds")
done

python3 - "${#unknown[@]}" "${unknown[@]}" "${wrong[@]}" <<'PY'
import statistics, sys
n = int(sys.argv[1])
unknown = [float(s) for s in sys.argv[2:2 + n]]
wrong = [float(s) for s in sys.argv[2 + n:]]
u, w = statistics.median(unknown), statistics.median(wrong)
ratio = u / w
print(f"unknown account: median {u * 1000:.2f} ms; wrong password: median {w * 1000:.2f} ms; ratio {ratio:.3f} (ceiling 0.5-2.0)")
sys.exit(0 if 0.5 <= ratio <= 2.0 else 1)
PY
