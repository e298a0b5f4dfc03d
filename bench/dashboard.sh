#!/usr/bin/env bash
# heliport dashboard benchmark: every dashboard page at a million recorded
# requests, signed in with a session cookie, while the gateway keeps
# recording.
#
# Usage:
#   bench/dashboard.sh              # build, seed, measure, print a markdown report
#   bench/dashboard.sh > report.md  # the report goes to stdout, progress to stderr
#
# Environment (all optional):
#   ROWS=1000000     requests seeded (`heliport seed --rows`)
#   DAYS=30          days of history they span, ending now
#   RUNS=20          timed loads of each page (after one warm-up)
#   TRAFFIC_RPS=10   chat completions per second proxied alongside
#   PROFILE=release  cargo profile of the heliport binary (release or dev)
#   SKIP_BUILD=0     1: use the existing binary
#   KEEP_TMP=0       1: keep the temp dir (database, logs)
# Every process it starts is stopped on exit (trap EXIT).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
ROWS=${ROWS:-1000000}
DAYS=${DAYS:-30}
RUNS=${RUNS:-20}
export TRAFFIC_RPS=${TRAFFIC_RPS:-10}
PROFILE=${PROFILE:-release}
SKIP_BUILD=${SKIP_BUILD:-0}
KEEP_TMP=${KEEP_TMP:-0}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}

log() { echo "[bench] $*" >&2; }
die() { echo "[bench] error: $*" >&2; exit 1; }

PIDS=()
TMP=$(mktemp -d /tmp/heliport-dash-bench.XXXXXX)
cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ "$KEEP_TMP" = 1 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v curl >/dev/null || die "curl is needed"
command -v python3 >/dev/null || die "python3 is needed"

case "$PROFILE" in
  release) DIR=release ;;
  dev) DIR=debug ;;
  *) die "PROFILE must be release or dev" ;;
esac
if [ "$SKIP_BUILD" != 1 ]; then
  log "cargo build --profile $PROFILE -p heliport"
  cargo build --profile "$PROFILE" -p heliport >&2
fi
BIN=$TARGET/$DIR/heliport
[ -x "$BIN" ] || die "no $BIN"

free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 30000))
    if ! ss -Htan | awk '{print $4}' | grep -q ":$p\$"; then echo "$p"; return; fi
  done
}

wait_http() {
  for _ in $(seq 1 300); do
    curl -sf -o /dev/null "$1" && return 0
    sleep 0.1
  done
  die "$2 did not come up ($1)"
}

LOADAVG0=$(cut -d' ' -f1-3 /proc/loadavg)
export HELIPORT_DATABASE_URL=sqlite://$TMP/dash.db
export HELIPORT_SPOOL_PATH=$TMP/dash.spool
export HELIPORT_LOG=warn

log "seeding $ROWS requests over $DAYS days"
SEED_START=$SECONDS
"$BIN" seed --rows "$ROWS" --days "$DAYS" >"$TMP/seed.log" 2>&1 || die "seed failed: $(cat "$TMP/seed.log")"
SEED_S=$((SECONDS - SEED_START))
SEED_LINE=$(grep -E '^wrote' "$TMP/seed.log" || true)
DB_MB=$(( $(stat -c %s "$TMP/dash.db") / 1048576 ))
log "$SEED_LINE (database $DB_MB MiB)"

MOCK_PORT=$(free_port); HELI_PORT=$(free_port)
"$BIN" mock --listen "127.0.0.1:$MOCK_PORT" >"$TMP/mock.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$MOCK_PORT/__mock/health" mock
KEY=$("$BIN" keys create --name bench 2>/dev/null | grep -oE 'sk-heliport-[A-Za-z0-9]+' | head -1)
[ -n "$KEY" ] || die "no key"
HELIPORT_LISTEN=127.0.0.1:$HELI_PORT HELIPORT_OPENAI_BASE_URL=http://127.0.0.1:$MOCK_PORT \
  "$BIN" serve >"$TMP/heliport.log" 2>&1 &
HELI_PID=$!
PIDS+=($HELI_PID)
wait_http "http://127.0.0.1:$HELI_PORT/healthz" heliport

log "timing every page ($RUNS runs each, $TRAFFIC_RPS chat completions/s alongside)"
python3 "$ROOT/bench/dashboard_client.py" "http://127.0.0.1:$HELI_PORT" "$KEY" "$RUNS" >"$TMP/pages.md"
RSS_MB=$(( $(awk '/^VmRSS:/{print $2}' "/proc/$HELI_PID/status") / 1024 ))
ERRORS=$(grep -c ' ERROR ' "$TMP/heliport.log" || true)

COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=$(git status --porcelain 2>/dev/null | grep -q . && echo " (uncommitted changes)" || true)
cat <<REPORT
### Dashboard run of $(date -u '+%Y-%m-%d %H:%M') UTC

- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM; load average before the run: $LOADAVG0
- heliport commit: $COMMIT$DIRTY ($PROFILE build)
- data: \`heliport seed --rows $ROWS --days $DAYS\`: $SEED_LINE; $SEED_S s wall; database $DB_MB MiB
- each page: signed in with a session cookie, 1 warm-up, then $RUNS timed loads on one keep-alive
  connection (python3 http.client), while $TRAFFIC_RPS chat completions a second are proxied and recorded
- heliport after the run: RSS $RSS_MB MiB; $ERRORS ERROR lines in its log

$(cat "$TMP/pages.md")
REPORT
