#!/usr/bin/env bash
# Scale benchmark: bench/scale.sh [sqlite|postgres] ACCOUNTS [ACCOUNTS ...]
#
# For each size: a fresh database, `portcullis seed-users` (set-based inserts,
# one shared password hash), ANALYZE, then the release binary; each admin
# query and /me, a login and a refresh are timed one at a time (curl, the
# median of 7 after a warm-up) and printed as a Markdown table row in ms;
# then a second table of more listings (broad and short searches, filters).
#   bench/scale.sh postgres 100000 1000000 10000000
set -euo pipefail
cd "$(dirname "$0")/.."

backend="${1:?sqlite or postgres}"
shift
port="${BENCH_PORT:-18791}"
postgres_admin_url="${PORTCULLIS_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
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

# Median of 7 timed requests (ms), after one warm-up.
time_ms() {
    curl -s -o /dev/null "$@"
    for _ in 1 2 3 4 5 6 7; do
        curl -s -o /dev/null -w '%{time_total}\n' "$@"
    done | sort -n | sed -n 4p | awk '{printf "%.1f", $1 * 1000}'
}

# More listings, timed the same way, printed as a second table at the end:
# broad searches (many candidates, or more than 10,000 matches), a term too
# short for trigrams, and filters that few or many accounts pass.
extra_queries=(q=9999 q=user999 q=user99 q=example q=ab role=admin role=user disabled=true "q=example&role=admin")
extra_rows=()
echo "| accounts | backend | list | list, page 1000 by offset | list, page after cursor | search hit | search miss | /admin | /me | login | refresh |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for accounts in "$@"; do
    case "$backend" in
    sqlite) database_url="sqlite://$work/scale-$accounts.db" ;;
    postgres)
        postgres_db="portcullis_scale_$$"
        psql -q "$postgres_admin_url" -c "DROP DATABASE IF EXISTS $postgres_db WITH (FORCE)" -c "CREATE DATABASE $postgres_db"
        database_url="${postgres_admin_url%/*}/$postgres_db"
        ;;
    esac
    export DATABASE_URL="$database_url" BIND_ADDR="127.0.0.1:$port" RATE_LIMIT_PER_MINUTE=0 RUST_LOG=warn
    "$binary" migrate >/dev/null
    "$binary" seed-users --count "$accounts" >/dev/null
    printf '%s\n' 'bench admin password' | "$binary" create-admin --username benchadmin --email benchadmin@example.com --password-stdin >/dev/null
    case "$backend" in
    sqlite) sqlite3 "$work/scale-$accounts.db" 'ANALYZE' 2>/dev/null || true ;;
    postgres) psql -q "$database_url" -c 'VACUUM ANALYZE users' ;;
    esac
    "$binary" serve >"$work/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
    base="http://127.0.0.1:$port"
    token=$(curl -s "$base/login" -H 'Content-Type: application/json' \
        -d '{"username":"benchadmin","password":"bench admin password"}' | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
    auth=(-H "Authorization: Bearer $token")
    cursor=$(curl -s "${auth[@]}" "$base/admin/users?per_page=20" | sed 's/.*"next_after":"\([^"]*\)".*/\1/')
    middle=$((accounts / 2))
    list=$(time_ms "${auth[@]}" "$base/admin/users")
    deep=$(time_ms "${auth[@]}" "$base/admin/users?page=1000")
    after=$(time_ms "${auth[@]}" "$base/admin/users?after=$cursor")
    hit=$(time_ms "${auth[@]}" "$base/admin/users?q=user$middle")
    miss=$(time_ms "${auth[@]}" "$base/admin/users?q=xyz")
    dashboard=$(time_ms "${auth[@]}" "$base/admin")
    me=$(time_ms "${auth[@]}" "$base/me")
    login=$(time_ms "$base/login" -H 'Content-Type: application/json' -d "{\"username\":\"user$middle\",\"password\":\"seeded password 1234\"}")
    refresh_token=$(curl -s "$base/login" -H 'Content-Type: application/json' \
        -d "{\"username\":\"user$middle\",\"password\":\"seeded password 1234\"}" | sed 's/.*"refresh_token":"\([^"]*\)".*/\1/')
    # Each refresh spends its token: time a fresh one each round.
    refresh=$(for _ in 1 2 3 4 5 6 7; do
        out=$(curl -s -w '\n%{time_total}' "$base/token/refresh" -H 'Content-Type: application/json' -d "{\"refresh_token\":\"$refresh_token\"}")
        refresh_token=$(printf '%s' "$out" | head -n1 | sed 's/.*"refresh_token":"\([^"]*\)".*/\1/')
        printf '%s' "$out" | tail -n1; echo
    done | sort -n | sed -n 4p | awk '{printf "%.1f", $1 * 1000}')
    echo "| $accounts | $backend | $list | $deep | $after | $hit | $miss | $dashboard | $me | $login | $refresh |"
    row="| $accounts | $backend |"
    for query in "${extra_queries[@]}"; do
        row="$row $(time_ms "${auth[@]}" "$base/admin/users?$query") |"
    done
    extra_rows+=("$row")
    kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
    if [ "$backend" = postgres ]; then
        psql -q "$postgres_admin_url" -c "DROP DATABASE IF EXISTS $postgres_db WITH (FORCE)"
        postgres_db=""
    fi
done
echo
header="| accounts | backend |"
rule="|---:|---|"
for query in "${extra_queries[@]}"; do header="$header \`$query\` |"; rule="$rule---:|"; done
echo "$header"
echo "$rule"
printf '%s\n' "${extra_rows[@]}"
