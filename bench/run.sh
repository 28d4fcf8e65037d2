#!/usr/bin/env bash
# Load benchmark, each figure beside the ceiling that bounds it:
#
#   bench/run.sh [--compare OTHER_BINARY] [sqlite|postgres] [DURATION_SECONDS] [CONNECTIONS]
#
# Builds the release binary (BENCH_BINARY=path uses that one instead), then, in
# one run on this machine:
#
# 1. measures the ceilings: argon2id verifications per second with
#    HASH_CONCURRENCY threads (`portcullis hash-benchmark`), which bound
#    /register and /login; the database's own write ceiling, single-row
#    UPDATE transactions at CONNECTIONS concurrent connections (pgbench on
#    PostgreSQL, `portcullis write-ceiling` on SQLite), which bounds
#    /token/refresh; and an empty actix handler (`portcullis empty-server`)
#    driven like /me, which bounds /me;
# 2. starts the server on a fresh database with the rate limits off and a pool
#    of CONNECTIONS connections (so the database sees the concurrency its
#    ceiling was measured at), seeds accounts, and drives each scenario with
#    wrk: requests/s, p50/p99/max latency, answers by status, the server's CPU
#    time per request (from /proc) and its peak RSS;
# 3. with --compare, runs the same scenarios against OTHER_BINARY (say, the
#    previous commit's release build) on another fresh database, so that a
#    regression shows as a ratio in the same run.
#
# Needs wrk (installed from Debian with apt-get when missing, saying so first)
# and, on PostgreSQL, pgbench and psql.
set -euo pipefail
cd "$(dirname "$0")/.."

compare_binary=""
if [ "${1:-}" = "--compare" ]; then
    compare_binary="$(realpath "${2:?--compare needs the path of another portcullis binary}")"
    shift 2
fi
backend="${1:-sqlite}"
duration="${2:-10}"
connections="${3:-16}"
threads=2
cores="$(nproc)"
port="${BENCH_PORT:-18790}"
accounts="${BENCH_ACCOUNTS:-100}"
postgres_admin_url="${PORTCULLIS_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
case "$backend" in
    sqlite | postgres) ;;
    *) echo "usage: bench/run.sh [--compare OTHER_BINARY] [sqlite|postgres] [DURATION] [CONNECTIONS]" >&2; exit 2 ;;
esac

if ! command -v wrk >/dev/null; then
    echo "wrk is missing: installing Debian's wrk package with apt-get"
    apt-get install -y wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y wrk; }
fi

binary="${BENCH_BINARY:-}"
if [ -z "$binary" ]; then
    cargo build --release --quiet
    binary="$CARGO_TARGET_DIR/release/portcullis"
fi
binary="$(realpath "$binary")"

work="$(mktemp -d)"
server_pid=""
postgres_dbs=()
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    for db in "${postgres_dbs[@]}"; do
        psql -q "$postgres_admin_url" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

# A fresh, empty database; sets DATABASE_URL.
fresh_database() { # label
    case "$backend" in
        sqlite) export DATABASE_URL="sqlite://$work/$1.db" ;;
        postgres)
            local db="portcullis_bench_$1_$$"
            psql -q "$postgres_admin_url" -c "CREATE DATABASE $db"
            postgres_dbs+=("$db")
            export DATABASE_URL="${postgres_admin_url%/*}/$db"
            ;;
    esac
}

export RATE_LIMIT_PER_MINUTE=0 LOGIN_BACKOFF_FAILURES=0 RUST_LOG=warn
export DATABASE_POOL_SIZE="$connections"
export JWT_PRIVATE_KEY_FILE="$work/signing.pem"
openssl genpkey -algorithm ed25519 -out "$JWT_PRIVATE_KEY_FILE" 2>/dev/null \
    || unset JWT_PRIVATE_KEY_FILE # a development key is generated instead
export BENCH_ACCOUNTS="$accounts" BENCH_THREADS="$threads"

wait_for() { # url
    for _ in $(seq 1 100); do
        if curl -fs "$1" >/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "nothing answered at $1" >&2
    return 1
}

# Drives one wrk scenario; prints the RESULT line of bench/common.lua.
drive() { # script path connections
    wrk -t "$threads" -c "$3" -d "${duration}s" --timeout 10s -s "$1" "http://127.0.0.1:$port$2" | grep '^RESULT'
}
rate_of() { python3 -c 'import sys; f=dict(p.split("=",1) for p in sys.argv[1].split()[1:]); print(int(f["requests"])/(int(f["duration_us"])/1e6))' "$1"; }

echo "== ceilings"
hash_line="$("$binary" hash-benchmark --rounds 20)"
echo "$hash_line"
argon2_ceiling="$(sed -E 's/.*ceiling ([0-9.]+) logins\/s.*/\1/' <<<"$hash_line")"

fresh_database ceiling
case "$backend" in
    postgres)
        psql -q "$DATABASE_URL" -c "CREATE TABLE write_ceiling (id int PRIMARY KEY, n bigint NOT NULL)" \
            -c "INSERT INTO write_ceiling SELECT g, 0 FROM generate_series(1, $connections) AS g"
        cat >"$work/update.sql" <<EOF
\set id random(1, $connections)
UPDATE write_ceiling SET n = n + 1 WHERE id = :id;
EOF
        write_line="$(pgbench -n -c "$connections" -j "$threads" -T "$duration" -f "$work/update.sql" "$DATABASE_URL" 2>/dev/null | grep '^tps')"
        write_ceiling="$(sed -E 's/tps = ([0-9.]+).*/\1/' <<<"$write_line")"
        echo "pgbench, one single-row UPDATE per transaction, $connections connections: $write_ceiling/s"
        ;;
    sqlite)
        write_line="$("$binary" write-ceiling --connections "$connections" --seconds "$duration")"
        echo "$write_line"
        write_ceiling="$(sed -E 's/.*: ([0-9.]+)\/s/\1/' <<<"$write_line")"
        ;;
esac

"$binary" empty-server --bind "127.0.0.1:$port" >/dev/null 2>&1 &
server_pid=$!
wait_for "http://127.0.0.1:$port/me"
empty_line="$(BENCH_ACCESS_TOKEN=unused drive bench/me.lua /me "$connections")"
empty_ceiling="$(rate_of "$empty_line")"
echo "empty actix handler, GET /me, $connections connections: ${empty_ceiling%.*}/s"
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""

# Runs every scenario against one binary; appends its rows to the file named.
run_scenarios() { # binary label results
    local binary="$1" label="$2" results="$3"
    fresh_database "$label"
    echo
    echo "== $label: $binary"
    BIND_ADDR="127.0.0.1:$port" "$binary" serve >"$work/$label.log" 2>&1 &
    server_pid=$!
    wait_for "http://127.0.0.1:$port/readyz"
    cpu_ticks() { awk '{print $14 + $15}' "/proc/$server_pid/stat"; }
    rss_kib() { awk -v field="$1" '$1 == field":" {print $2}' "/proc/$server_pid/status"; }
    local idle_rss
    idle_rss="$(rss_kib VmRSS)"
    post() { curl -fs -H 'Content-Type: application/json' -d "$2" "http://127.0.0.1:$port$1"; }
    echo "seeding $accounts accounts"
    for n in $(seq 0 $((accounts - 1))); do
        post /register "{\"username\":\"seed$n\",\"email\":\"seed$n@bench.example\",\"password\":\"bench passphrase 2026\"}" >/dev/null
    done
    login() { post /login "{\"email\":\"seed$1@bench.example\",\"password\":\"bench passphrase 2026\"}"; }
    BENCH_ACCESS_TOKEN="$(login 0 | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
    export BENCH_ACCESS_TOKEN
    export BENCH_REFRESH_TOKENS="$work/$label-refresh-tokens"
    # wrk asks each connection for its first request more than once before it
    # sends one, so each thread needs spare tokens beyond one per connection.
    for n in $(seq 1 $((connections * 4))); do
        login $((n % accounts)) | python3 -c 'import json,sys; print(json.load(sys.stdin)["refresh_token"])'
    done >"$BENCH_REFRESH_TOKENS"

    scenario() { # name script path connections bound
        echo 5 >"/proc/$server_pid/clear_refs" 2>/dev/null || true # reset the peak-RSS mark
        local before after line
        before="$(cpu_ticks)"
        line="$(drive "$2" "$3" "$4")"
        after="$(cpu_ticks)"
        echo "$1|$4|$5|$before|$after|$(rss_kib VmHWM)|$line" >>"$results"
        echo "  $1 done"
    }
    echo "running scenarios for ${duration}s each"
    scenario "POST /register" bench/register.lua /register "$connections" argon2
    scenario "POST /login" bench/login.lua /login "$connections" argon2
    scenario "GET /me" bench/me.lua /me "$connections" empty
    scenario "POST /token/refresh" bench/refresh.lua /token/refresh "$connections" write
    # A confidential client for the token endpoint (skipped for a binary
    # that predates the OpenID Provider).
    local client_json
    if client_json="$("$binary" client create --name bench --type confidential \
        --grant-type client_credentials --scope bench:read 2>/dev/null)"; then
        BENCH_CLIENT_BASIC="$(python3 -c 'import base64,json,sys; c=json.loads(sys.argv[1]); print(base64.b64encode((c["client_id"]+":"+c["client_secret"]).encode()).decode())' "$client_json")"
        export BENCH_CLIENT_BASIC
        scenario "POST /oauth2/token (client_credentials)" bench/client_credentials.lua /oauth2/token "$connections" empty
    fi
    scenario "POST /login overload (16 × cores)" bench/login.lua /login $((16 * cores)) argon2
    echo "idle RSS after start-up: $((idle_rss / 1024)) MiB" >"$results.idle"
    kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
}

run_scenarios "$binary" current "$work/current"
if [ -n "$compare_binary" ]; then
    run_scenarios "$compare_binary" compared "$work/compared"
fi

echo
echo "Portcullis $(git rev-parse --short HEAD 2>/dev/null || echo '?') on $backend, $cores cores, $(awk '/model name/ {$1=$2=$3=""; print; exit}' /proc/cpuinfo | sed 's/^ *//'), ${duration}s per scenario, $connections connections"
[ -n "$compare_binary" ] && echo "compared with $compare_binary"
echo
python3 - "$(getconf CLK_TCK)" "$argon2_ceiling" "$write_ceiling" "$empty_ceiling" "$work/current" "${compare_binary:+$work/compared}" <<'PY'
import sys
hz, argon2, write, empty, current, compared = sys.argv[1:]
ceilings = {
    "argon2": ("argon2id verifications", float(argon2)),
    "write": ("single-row UPDATE transactions", float(write)),
    "empty": ("empty actix handler", float(empty)),
}

def rows(path):
    out = {}
    for line in open(path):
        name, conns, bound, before, after, peak, result = line.rstrip("\n").split("|")
        fields = dict(part.split("=", 1) for part in result.split()[1:])
        requests = int(fields["requests"])
        statuses = fields["statuses"] + (f" socket-errors:{fields['errors']}" if fields["errors"] != "0" else "")
        out[name] = dict(
            conns=conns, bound=bound, rate=requests / (int(fields["duration_us"]) / 1e6),
            p50=int(fields["p50_us"]) / 1000, p99=int(fields["p99_us"]) / 1000, max=int(fields["max_us"]) / 1000,
            statuses=statuses, cpu=(int(after) - int(before)) * 1000 / int(hz) / max(requests, 1),
            rss=int(peak) / 1024)
    return out

ours = rows(current)
theirs = rows(compared) if compared else {}
header = "| scenario | connections | requests/s | p50 ms | p99 ms | max ms | answers by status | server CPU ms/request | peak RSS MiB | bound by | ceiling/s | % of ceiling |"
rule = "|---|---|---|---|---|---|---|---|---|---|---|---|"
if theirs:
    header += " compared requests/s | compared CPU ms/request | requests/s ratio |"
    rule += "---|---|---|"
print(header)
print(rule)
for name, r in ours.items():
    what, ceiling = ceilings[r["bound"]]
    line = "| {} | {} | {:.0f} | {:.2f} | {:.2f} | {:.2f} | {} | {:.3f} | {:.1f} | {} | {:.0f} | {:.0f} % |".format(
        name, r["conns"], r["rate"], r["p50"], r["p99"], r["max"], r["statuses"], r["cpu"], r["rss"],
        what, ceiling, 100 * r["rate"] / ceiling)
    if theirs:
        t = theirs.get(name)
        line += " {:.0f} | {:.3f} | {:.2f} |".format(t["rate"], t["cpu"], r["rate"] / t["rate"]) if t else " – | – | – |"
    print(line)
PY
echo
cat "$work/current.idle"
echo "$hash_line"
