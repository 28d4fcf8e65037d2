#!/usr/bin/env bash
# Load benchmark: bench/run.sh [sqlite|postgres] [DURATION_SECONDS] [CONNECTIONS]
#
# Builds the release binary, starts it on a fresh database with the rate
# limits off, seeds accounts, and drives each scenario with wrk. For every
# scenario it prints requests/s, p50/p99/max latency, answers by status, the
# server's CPU time per request (from /proc) and its peak RSS; and, from the
# same build, the argon2 ceiling that bounds /login and /register.
#
# Needs wrk. When it is missing the script installs Debian's `wrk` package with
# apt-get (as root), saying so first; install it yourself to avoid that.
set -euo pipefail
cd "$(dirname "$0")/.."

backend="${1:-sqlite}"
duration="${2:-10}"
connections="${3:-16}"
threads=2
cores="$(nproc)"
port="${BENCH_PORT:-18790}"
accounts="${BENCH_ACCOUNTS:-100}"
postgres_admin_url="${PORTCULLIS_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"

if ! command -v wrk >/dev/null; then
    echo "wrk is missing: installing Debian's wrk package with apt-get"
    apt-get install -y wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y wrk; }
fi

cargo build --release --quiet
binary="$CARGO_TARGET_DIR/release/portcullis"

work="$(mktemp -d)"
server_pid=""
postgres_db=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    if [ -n "$postgres_db" ]; then psql -q "$postgres_admin_url" -c "DROP DATABASE IF EXISTS $postgres_db WITH (FORCE)" || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

case "$backend" in
    sqlite) export DATABASE_URL="sqlite://$work/bench.db" ;;
    postgres)
        postgres_db="portcullis_bench_$(date +%s)"
        psql -q "$postgres_admin_url" -c "CREATE DATABASE $postgres_db"
        export DATABASE_URL="${postgres_admin_url%/*}/$postgres_db"
        ;;
    *) echo "usage: bench/run.sh [sqlite|postgres] [DURATION] [CONNECTIONS]" >&2; exit 2 ;;
esac
export BIND_ADDR="127.0.0.1:$port" RATE_LIMIT_PER_MINUTE=0 LOGIN_BACKOFF_FAILURES=0 RUST_LOG=warn
export JWT_PRIVATE_KEY_FILE="$work/signing.pem"
openssl genpkey -algorithm ed25519 -out "$JWT_PRIVATE_KEY_FILE" 2>/dev/null \
    || unset JWT_PRIVATE_KEY_FILE # a development key is generated instead

"$binary" serve >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
    if curl -fs "http://127.0.0.1:$port/readyz" >/dev/null; then break; fi
    sleep 0.1
done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$server_pid/stat"; }
rss_kib() { awk -v field="$1" '$1 == field":" {print $2}' "/proc/$server_pid/status"; }
ticks_per_second="$(getconf CLK_TCK)"
idle_rss="$(rss_kib VmRSS)"

post() { curl -fs -H 'Content-Type: application/json' -d "$2" "http://127.0.0.1:$port$1"; }
echo "seeding $accounts accounts"
for n in $(seq 0 $((accounts - 1))); do
    post /register "{\"username\":\"seed$n\",\"email\":\"seed$n@bench.example\",\"password\":\"bench passphrase 2026\"}" >/dev/null
done
login() { post /login "{\"email\":\"seed$1@bench.example\",\"password\":\"bench passphrase 2026\"}"; }
export BENCH_ACCOUNTS="$accounts" BENCH_THREADS="$threads"
BENCH_ACCESS_TOKEN="$(login 0 | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
export BENCH_ACCESS_TOKEN
export BENCH_REFRESH_TOKENS="$work/refresh-tokens"
# wrk asks each connection for its first request more than once before it
# sends one, so each thread needs spare tokens beyond one per connection.
for n in $(seq 1 $((connections * 4))); do
    login $((n % accounts)) | python3 -c 'import json,sys; print(json.load(sys.stdin)["refresh_token"])'
done >"$BENCH_REFRESH_TOKENS"

results="$work/results"
run_scenario() { # name script method path connections
    local name="$1" script="$2" path="$3" conns="$4"
    echo 5 >"/proc/$server_pid/clear_refs" 2>/dev/null || true # reset the peak-RSS mark
    local before after output
    before="$(cpu_ticks)"
    output="$(wrk -t "$threads" -c "$conns" -d "${duration}s" --timeout 10s -s "$script" "http://127.0.0.1:$port$path")"
    after="$(cpu_ticks)"
    local line
    line="$(grep '^RESULT' <<<"$output")"
    python3 - "$name" "$conns" "$line" "$before" "$after" "$ticks_per_second" "$(rss_kib VmHWM)" >>"$results" <<'PY'
import sys
name, conns, line, before, after, hz, peak = sys.argv[1:]
fields = dict(part.split("=", 1) for part in line.split()[1:])
requests = int(fields["requests"])
seconds = int(fields["duration_us"]) / 1e6
cpu_ms = (int(after) - int(before)) * 1000 / int(hz)
print("| {} | {} | {:.0f} | {:.2f} | {:.2f} | {:.2f} | {} | {:.3f} | {:.1f} |".format(
    name, conns, requests / seconds,
    int(fields["p50_us"]) / 1000, int(fields["p99_us"]) / 1000, int(fields["max_us"]) / 1000,
    fields["statuses"] + (f" socket-errors:{fields['errors']}" if fields["errors"] != "0" else ""),
    cpu_ms / max(requests, 1), int(peak) / 1024))
PY
}

echo "running scenarios for ${duration}s each"
run_scenario "POST /register" bench/register.lua /register "$connections"
run_scenario "POST /login" bench/login.lua /login "$connections"
run_scenario "GET /me" bench/me.lua /me "$connections"
run_scenario "POST /token/refresh" bench/refresh.lua /token/refresh "$connections"
run_scenario "POST /login overload (16 × cores)" bench/login.lua /login $((16 * cores))

echo
echo "Portcullis $(git rev-parse --short HEAD 2>/dev/null || echo '?') on $backend, $(nproc) cores, $(awk '/model name/ {$1=$2=$3=""; print; exit}' /proc/cpuinfo | sed 's/^ *//'), ${duration}s per scenario"
echo
echo "| scenario | connections | requests/s | p50 ms | p99 ms | max ms | answers by status | server CPU ms/request | peak RSS MiB |"
echo "|---|---|---|---|---|---|---|---|---|"
cat "$results"
echo
echo "idle RSS after start-up: $((idle_rss / 1024)) MiB"
"$binary" hash-benchmark --rounds 20
