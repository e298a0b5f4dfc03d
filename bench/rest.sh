#!/usr/bin/env bash
# heliport REST benchmark: every query of SPEC §7 at a million recorded requests.
#
# Usage:
#   bench/rest.sh              # build, seed, measure, print a markdown report
#   bench/rest.sh > report.md  # the report goes to stdout, progress to stderr
#
# Environment (all optional):
#   ROWS=1000000     requests seeded (`heliport seed --rows`)
#   DAYS=30          days of history they span, ending now
#   RUNS=20          timed runs of each query (after one warm-up run)
#   TRAFFIC_RPS=10   chat completions per second proxied through heliport to
#                    the mock while the queries run (recording keeps going)
#   WRITER_RECORDS=200000  records per run of the writer benchmark
#   KEEP_TMP=0       1: keep the temp dir (database, logs)
#   SEEDED_DB=       path of a database a previous run seeded (KEEP_TMP=1):
#                    used in place, without seeding (it grows by the traffic)
#   SKIP_BUILD=0     1: use the existing binaries
#   PROFILE=release  cargo profile of the heliport binary (release or dev)
#   CLIENT=rest_client.py  the timing client in bench/ (bench/dashboard.sh
#                    runs this script with dashboard_client.py)
#   TITLE=REST       the report's title
#   WRITER=1         0: skip the writer benchmark
#
# What it does:
#   1. cargo build --release -p heliport, and the writer benchmark example
#   2. heliport seed --rows ROWS --days DAYS into a fresh SQLite file (timed:
#      the seed writes through the record writer's insert path, rollups
#      included)
#   3. starts `heliport mock` and `heliport serve` on that database (auth
#      required) on free loopback ports
#   4. bench/rest_client.py: every REST query RUNS times, one keep-alive
#      connection, while a second connection proxies TRAFFIC_RPS chat
#      completions a second; prints p50 / p95 / max per query and then one
#      whole export streamed as JSON lines
#   5. the writer benchmark (crates/heliport-store/examples/writer_bench.rs):
#      records/s of the insert path for plain and rich records, 3 runs each
# Every process it starts is stopped on exit (trap EXIT).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
ROWS=${ROWS:-1000000}
DAYS=${DAYS:-30}
RUNS=${RUNS:-20}
export TRAFFIC_RPS=${TRAFFIC_RPS:-10}
WRITER_RECORDS=${WRITER_RECORDS:-200000}
KEEP_TMP=${KEEP_TMP:-0}
SKIP_BUILD=${SKIP_BUILD:-0}
PROFILE=${PROFILE:-release}
CLIENT=${CLIENT:-rest_client.py}
TITLE=${TITLE:-REST}
WRITER=${WRITER:-1}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
case "$PROFILE" in
  release) PROFILE_DIR=release ;;
  dev) PROFILE_DIR=debug ;;
  *) echo "PROFILE must be release or dev" >&2; exit 2 ;;
esac

log() { echo "[bench] $*" >&2; }
die() { echo "[bench] error: $*" >&2; exit 1; }

. "$ROOT/bench/lib.sh"
bench_tmp heliport-rest-bench

command -v curl >/dev/null || die "curl is needed"
command -v python3 >/dev/null || die "python3 is needed"

if [ "$SKIP_BUILD" != 1 ]; then
  if [ "$WRITER" = 1 ]; then
    log "cargo build --profile $PROFILE -p heliport (and the writer benchmark)"
    # --example alone would build only the example: --bin heliport as well.
    cargo build --profile "$PROFILE" -p heliport -p heliport-store --bin heliport --example writer_bench >&2
  else
    log "cargo build --profile $PROFILE -p heliport"
    cargo build --profile "$PROFILE" -p heliport >&2
  fi
fi
BIN=$TARGET/$PROFILE_DIR/heliport
WRITER_BENCH=$TARGET/$PROFILE_DIR/examples/writer_bench
[ -x "$BIN" ] || die "no $BIN"

LOADAVG0=$(cut -d' ' -f1-3 /proc/loadavg)
DB_FILE=${SEEDED_DB:-$TMP/rest.db}
export HELIPORT_DATABASE_URL=sqlite://$DB_FILE
export HELIPORT_SPOOL_PATH=$TMP/rest.spool
export HELIPORT_LOG=warn

# ---------------------------------------------------------------- seed
if [ -n "${SEEDED_DB:-}" ]; then
  [ -f "$SEEDED_DB" ] || die "no $SEEDED_DB"
  log "using the seeded database $SEEDED_DB"
  SEED_S=0
  SEED_LINE="seeded by an earlier run, reused"
else
  log "seeding $ROWS requests over $DAYS days"
  SEED_START=$SECONDS
  "$BIN" seed --rows "$ROWS" --days "$DAYS" >"$TMP/seed.log" 2>&1 || die "seed failed: $(cat "$TMP/seed.log")"
  SEED_S=$((SECONDS - SEED_START))
  SEED_LINE=$(grep -E '^wrote' "$TMP/seed.log" || true)
fi
DB_MB=$(( $(stat -c %s "$DB_FILE") / 1048576 ))
log "$SEED_LINE (database $DB_MB MiB)"

# ---------------------------------------------------------------- serve
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

# ---------------------------------------------------------------- queries
log "timing every query ($RUNS runs each, $TRAFFIC_RPS chat completions/s alongside)"
python3 "$ROOT/bench/$CLIENT" "http://127.0.0.1:$HELI_PORT" "$KEY" "$RUNS" >"$TMP/queries.md"
RSS_MB=$(( $(awk '/^VmRSS:/{print $2}' "/proc/$HELI_PID/status") / 1024 ))
HWM_MB=$(( $(awk '/^VmHWM:/{print $2}' "/proc/$HELI_PID/status") / 1024 ))
ERRORS=$(grep -c ' ERROR ' "$TMP/heliport.log" || true)
kill "$HELI_PID" 2>/dev/null || true

# ---------------------------------------------------------------- writer
WRITER_MD=""
if [ "$WRITER" = 1 ] && [ -x "$WRITER_BENCH" ]; then
  log "writer benchmark ($WRITER_RECORDS records, plain and rich, 3 runs each)"
  for mode in plain rich; do
    rates=()
    for _ in 1 2 3; do
      r=$("$WRITER_BENCH" "$WRITER_RECORDS" "$mode" | grep -oE '[0-9]+ records/s' | grep -oE '^[0-9]+')
      rates+=("$r")
    done
    median=$(printf '%s\n' "${rates[@]}" | sort -n | sed -n 2p)
    WRITER_MD+="| $mode | ${rates[*]} | $median |"$'\n'
  done
fi

# ---------------------------------------------------------------- report
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=$(git status --porcelain 2>/dev/null | grep -q . && echo " (uncommitted changes)" || true)
cat <<EOF
### $TITLE run of $(date -u '+%Y-%m-%d %H:%M') UTC

- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM; load average before the run: $LOADAVG0
- heliport commit: $COMMIT$DIRTY ($PROFILE build)
- data: \`heliport seed --rows $ROWS --days $DAYS\`: $SEED_LINE; $SEED_S s wall; database $DB_MB MiB
- each query (or page, signed in with a session cookie): 1 warm-up, then $RUNS timed runs on one
  keep-alive connection (python3 http.client), while
  $TRAFFIC_RPS chat completions a second are proxied through heliport to the mock and recorded
- heliport after the run: RSS $RSS_MB MiB (peak $HWM_MB MiB); $ERRORS ERROR lines in its log

$(cat "$TMP/queries.md")
EOF
if [ -n "$WRITER_MD" ]; then
  cat <<EOF

Writer benchmark (\`writer_bench\`, $WRITER_RECORDS records per run, batches of 512, records/s of the insert path):

| records | runs | median |
|---|---|---:|
$WRITER_MD
EOF
fi
