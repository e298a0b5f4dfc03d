#!/usr/bin/env bash
# heliport load benchmark.
#
# Usage:
#   bench/run.sh              # build, run everything, print a markdown report
#   bench/run.sh > report.md  # the report goes to stdout, progress to stderr
#
# Environment (all optional):
#   DURATION=10      seconds of each measured wrk run
#   WARMUP=2         seconds of the warm-up run before each target
#   PIN=1            1: wrk on CPU 1, mock on CPU 0, the proxy under test
#                    (heliport or nginx) unpinned; 0: nothing is pinned
#   KEEP_TMP=0       1: keep the temp dir (SQLite db, logs, configs)
#   SKIP_BUILD=0     1: use the existing target/release/heliport
#
# What it does:
#   1. cargo build --release -p heliport
#   2. installs Debian's wrk and nginx-light if missing (apt-get, needs root)
#   3. starts, all on 127.0.0.1 with free ports, in a temp dir:
#        - `heliport mock`                        (the mock provider)
#        - `heliport serve` in front of the mock  (auth required, every
#          request recorded to SQLite; key from `heliport keys create`)
#        - nginx in front of the same mock        (the floor: own config in
#          the temp dir, not the system service, keepalive upstream,
#          proxy_buffering off)
#   4. for non-streaming and streaming chat completions at concurrency 1 and
#      32, runs wrk against the mock directly, nginx and heliport (back to
#      back per scenario, so drifting background load hits all three alike)
#   5. prints a markdown table: req/s, p50, p99, p50 overhead over the mock
#      direct, req/s ratio to nginx; heliport's RSS after load; requests sent
#      to heliport vs records it wrote (REST count query); target checks.
# Every process it starts is stopped on exit (trap EXIT). Load stays on
# loopback and each run is bounded by DURATION.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
PIN=${PIN:-1}
KEEP_TMP=${KEEP_TMP:-0}
SKIP_BUILD=${SKIP_BUILD:-0}

log() { echo "[bench] $*" >&2; }
die() { echo "[bench] error: $*" >&2; exit 1; }

# ---------------------------------------------------------------- cleanup
PIDS=()
TMP=$(mktemp -d /tmp/heliport-bench.XXXXXX)
cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    # give heliport time to flush its writer; then insist
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ "$KEEP_TMP" = 1 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- tools
need_pkg() { # command package
  if ! command -v "$1" >/dev/null 2>&1; then
    log "installing $2"
    [ "$(id -u)" = 0 ] || die "$1 missing and not root: apt-get install $2"
    if ! apt-get install -y -qq "$2" >&2; then
      apt-get update -qq >&2 && apt-get install -y -qq "$2" >&2
    fi
  fi
}
need_pkg wrk wrk
[ -x /usr/sbin/nginx ] || need_pkg nginx nginx-light
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
command -v curl >/dev/null || need_pkg curl curl

if [ "$SKIP_BUILD" != 1 ]; then
  log "cargo build --release -p heliport"
  cargo build --release -p heliport >&2
fi
BIN=$ROOT/target/release/heliport
[ -x "$BIN" ] || die "no $BIN"

# ---------------------------------------------------------------- helpers
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 30000))
    if ! ss -Htan | awk '{print $4}' | grep -q ":$p\$"; then
      if [ -z "${USED_PORTS:-}" ] || ! grep -qw "$p" <<<"$USED_PORTS"; then
        USED_PORTS="${USED_PORTS:-} $p"; echo "$p"; return
      fi
    fi
  done
}

wait_http() { # url what
  for _ in $(seq 1 100); do
    curl -sf -o /dev/null "$1" && return 0
    sleep 0.1
  done
  die "$2 did not come up ($1)"
}

if [ "$PIN" = 1 ]; then
  PIN_WRK=(taskset -c 1); PIN_MOCK=(taskset -c 0)
else
  PIN_WRK=(); PIN_MOCK=()
fi

MOCK_PORT=$(free_port); NGINX_PORT=$(free_port); HELI_PORT=$(free_port)
MOCK=http://127.0.0.1:$MOCK_PORT
NGX=http://127.0.0.1:$NGINX_PORT
HELI=http://127.0.0.1:$HELI_PORT
PATH_CHAT=/v1/chat/completions

# ---------------------------------------------------------------- mock
log "starting mock on $MOCK"
"${PIN_MOCK[@]}" "$BIN" mock --listen "127.0.0.1:$MOCK_PORT" >"$TMP/mock.log" 2>&1 &
PIDS+=($!)
wait_http "$MOCK/__mock/health" mock

# ---------------------------------------------------------------- nginx
mkdir -p "$TMP/nginx"
cat >"$TMP/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 2;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $TMP/nginx/client_body;
  proxy_temp_path $TMP/nginx/proxy;
  fastcgi_temp_path $TMP/nginx/fastcgi;
  uwsgi_temp_path $TMP/nginx/uwsgi;
  scgi_temp_path $TMP/nginx/scgi;
  upstream mock {
    server 127.0.0.1:$MOCK_PORT;
    keepalive 64;
  }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
EOF
log "starting nginx on $NGX"
"$NGINX" -e "$TMP/nginx/error.log" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" \
  >"$TMP/nginx/stdout.log" 2>&1 &
PIDS+=($!)
wait_http "$NGX/__mock/health" nginx

# ---------------------------------------------------------------- heliport
export HELIPORT_LISTEN=127.0.0.1:$HELI_PORT
export HELIPORT_DATABASE_URL=sqlite://$TMP/bench.db
export HELIPORT_SPOOL_PATH=$TMP/bench.spool
export HELIPORT_OPENAI_BASE_URL=$MOCK
export HELIPORT_LOG=warn
KEY=$("$BIN" keys create --name bench 2>"$TMP/keys.log" | grep -oE 'sk-heliport-[A-Za-z0-9]+' | head -1) \
  || die "heliport keys create failed: $(cat "$TMP/keys.log")"
[ -n "$KEY" ] || die "no key printed by heliport keys create"
log "starting heliport on $HELI"
"$BIN" serve >"$TMP/heliport.log" 2>&1 &
HELI_PID=$!
PIDS+=($HELI_PID)
wait_http "$HELI/healthz" heliport

# ---------------------------------------------------------------- wrk scripts
BODY='{"model":"gpt-4o","messages":[{"role":"user","content":"Say hello to the benchmark"}]}'
SBODY='{"model":"gpt-4o","messages":[{"role":"user","content":"Say hello to the benchmark"}],"stream":true,"stream_options":{"include_usage":true}}'
for mode in plain stream; do
  if [ $mode = plain ]; then b=$BODY; else b=$SBODY; fi
  cat >"$TMP/$mode.lua" <<EOF
wrk.method = "POST"
wrk.body = '$b'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-test"
wrk.headers["Helicone-Auth"] = "Bearer $KEY"
EOF
done

# One request through each target, checked, before any load.
for base in "$MOCK" "$NGX" "$HELI"; do
  for mode in plain stream; do
    if [ $mode = plain ]; then b=$BODY; want='"choices"'; else b=$SBODY; want='data: [DONE]'; fi
    out=$(curl -sS -X POST "$base$PATH_CHAT" -H "Content-Type: application/json" \
      -H "Authorization: Bearer sk-test" -H "Helicone-Auth: Bearer $KEY" -d "$b") \
      || die "smoke request to $base failed"
    grep -qF "$want" <<<"$out" || die "unexpected $mode reply from $base: $out"
  done
done
SMOKE_HELI=2

# ---------------------------------------------------------------- wrk runs
to_ms() { # "123.45us" | "1.2ms" | "1.5s" -> milliseconds
  awk -v v="$1" 'BEGIN{
    n=v; sub(/[a-z]+$/,"",n); u=v; sub(/^[0-9.]+/,"",u);
    if(u=="us")f=0.001; else if(u=="ms")f=1; else if(u=="s")f=1000; else if(u=="m")f=60000; else f=1;
    printf "%.3f", n*f }'
}

declare -A RPS P50 P99 REQS ERRS
HELI_SENT=0
run_wrk() { # target url mode conc seconds -> sets LAST_* ; prints nothing
  local target=$1 url=$2 mode=$3 conc=$4 secs=$5 out
  out=$("${PIN_WRK[@]}" wrk -t1 -c"$conc" -d"${secs}s" --latency -s "$TMP/$mode.lua" "$url$PATH_CHAT" 2>&1) \
    || die "wrk failed against $target: $out"
  echo "=== $target $mode c$conc ${secs}s" >>"$TMP/wrk.log"
  echo "$out" >>"$TMP/wrk.log"
  LAST_RPS=$(awk '/^Requests\/sec:/{print $2}' <<<"$out")
  LAST_P50=$(to_ms "$(awk '$1=="50%"{print $2}' <<<"$out")")
  LAST_P99=$(to_ms "$(awk '$1=="99%"{print $2}' <<<"$out")")
  LAST_REQS=$(awk '/requests in/{print $1}' <<<"$out")
  local non2xx sock
  non2xx=$(awk '/Non-2xx/{print $NF}' <<<"$out"); non2xx=${non2xx:-0}
  sock=$(awk '/Socket errors/{gsub(/,/,""); print $4+$6+$8+$10}' <<<"$out"); sock=${sock:-0}
  LAST_ERRS=$((non2xx + sock))
  if [ "$target" = heliport ]; then HELI_SENT=$((HELI_SENT + LAST_REQS)); fi
}

mock_counter() { # the mock's request number (each call itself counts one)
  curl -sS -D - -o /dev/null -X POST "$MOCK$PATH_CHAT" -H "Content-Type: application/json" \
    -d "$BODY" | awk 'tolower($1)=="x-mock-request-number:"{print $2+0}'
}

TARGETS=(mock nginx heliport)
declare -A URL=([mock]=$MOCK [nginx]=$NGX [heliport]=$HELI)

MOCK_BEFORE=$(mock_counter)
HELI_MOCK_SEEN=0  # requests the mock saw while heliport was under load

for t in "${TARGETS[@]}"; do
  log "warm-up $t (${WARMUP}s plain c32, ${WARMUP}s stream c32)"
  for mode in plain stream; do
    m0=$(mock_counter)
    run_wrk "$t" "${URL[$t]}" $mode 32 "$WARMUP"
    m1=$(mock_counter)
    if [ "$t" = heliport ]; then HELI_MOCK_SEEN=$((HELI_MOCK_SEEN + m1 - m0 - 1)); fi
  done
done

SCENARIOS=("plain 1" "plain 32" "stream 1" "stream 32")
for sc in "${SCENARIOS[@]}"; do
  read -r mode conc <<<"$sc"
  for t in "${TARGETS[@]}"; do
    log "measure $t $mode c$conc (${DURATION}s)"
    m0=$(mock_counter)
    run_wrk "$t" "${URL[$t]}" "$mode" "$conc" "$DURATION"
    m1=$(mock_counter)
    if [ "$t" = heliport ]; then HELI_MOCK_SEEN=$((HELI_MOCK_SEEN + m1 - m0 - 1)); fi
    k="$t/$mode/$conc"
    RPS[$k]=$LAST_RPS; P50[$k]=$LAST_P50; P99[$k]=$LAST_P99; REQS[$k]=$LAST_REQS; ERRS[$k]=$LAST_ERRS
  done
done

# ---------------------------------------------------------------- after load
RSS_KB=$(awk '/^VmRSS:/{print $2}' "/proc/$HELI_PID/status")
HWM_KB=$(awk '/^VmHWM:/{print $2}' "/proc/$HELI_PID/status")

# Records are written in batches: wait until the count stops moving.
count_records() {
  curl -s -X POST "$HELI/v1/request/count/query" -H "Authorization: Bearer $KEY" \
    -H "Content-Type: application/json" -d '{}' | sed -nE 's/.*"data": *([0-9]+).*/\1/p'
}
EXPECT=$((HELI_SENT + SMOKE_HELI))
RECORDS=$(count_records); prev=-1
for _ in $(seq 1 40); do
  [ "${RECORDS:-0}" -ge "$EXPECT" ] && [ "$RECORDS" = "$prev" ] && break
  sleep 0.5; prev=$RECORDS; RECORDS=$(count_records)
done
HELI_MOCK_SEEN=$((HELI_MOCK_SEEN + SMOKE_HELI))

# ---------------------------------------------------------------- report
calc() { awk "BEGIN{printf \"$1\", $2}"; }
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain -- crates Cargo.toml Cargo.lock 2>/dev/null)" ]; then COMMIT="$COMMIT (+ uncommitted changes)"; fi
CPU=$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)
MEM=$(awk '/^MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)

echo "## heliport benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "- machine: $(nproc) cores, $CPU, $MEM RAM, $(uname -sr)"
echo "- heliport commit: $COMMIT"
echo "- wrk $(wrk -v 2>&1 | awk 'NR==1{print $2}'), $("$NGINX" -v 2>&1 | sed 's/.*: //'), -t1, ${DURATION}s per run after a ${WARMUP}s warm-up per target and mode"
if [ "$PIN" = 1 ]; then
  echo "- pinning: wrk on CPU 1, mock on CPU 0, nginx / heliport unpinned (taskset)"
else
  echo "- pinning: none"
fi
echo "- overhead = p50(target) - p50(mock direct); vs nginx = target req/s / nginx req/s"
echo
echo "| mode | conc | target | req/s | p50 ms | p99 ms | overhead p50 ms | vs nginx | errors |"
echo "|---|---:|---|---:|---:|---:|---:|---:|---:|"
for sc in "${SCENARIOS[@]}"; do
  read -r mode conc <<<"$sc"
  label=$([ "$mode" = plain ] && echo non-streaming || echo streaming)
  for t in "${TARGETS[@]}"; do
    k="$t/$mode/$conc"; km="mock/$mode/$conc"; kn="nginx/$mode/$conc"
    if [ "$t" = mock ]; then ovh="—"; else ovh=$(calc "%+.3f" "${P50[$k]} - ${P50[$km]}"); fi
    ratio=$(calc "%.2f" "${RPS[$k]} / ${RPS[$kn]}")
    printf '| %s | %s | %s | %.0f | %.3f | %.3f | %s | %s | %s |\n' \
      "$label" "$conc" "$t" "${RPS[$k]}" "${P50[$k]}" "${P99[$k]}" "$ovh" "$ratio" "${ERRS[$k]}"
  done
done
echo
RSS_MIB=$(calc "%.1f" "$RSS_KB / 1024")
echo "- heliport RSS after load: $RSS_MIB MiB (VmRSS; peak VmHWM $(calc "%.1f" "$HWM_KB / 1024") MiB)"
echo "- heliport records: $EXPECT requests completed by clients (wrk + $SMOKE_HELI smoke), $HELI_MOCK_SEEN reached the mock through heliport, ${RECORDS:-?} records written"
echo
echo "Targets:"
r32=$(calc "%.2f" "${RPS[heliport/plain/32]} / ${RPS[nginx/plain/32]}")
ok() { if awk "BEGIN{exit !($1)}"; then echo "met"; else echo "MISSED"; fi; }
echo "- concurrency 32 non-streaming throughput ≥ 0.5 × nginx (goal 0.8 ×): ${r32} × — $(ok "$r32 >= 0.5")$( [ "$(ok "$r32 >= 0.8")" = met ] && echo ", goal met" || echo ", goal not met")"
for mode in plain stream; do
  ho=$(calc "%.3f" "${P50[heliport/$mode/1]} - ${P50[mock/$mode/1]}")
  no=$(calc "%.3f" "${P50[nginx/$mode/1]} - ${P50[mock/$mode/1]}")
  label=$([ "$mode" = plain ] && echo non-streaming || echo streaming)
  echo "- concurrency 1 $label overhead ≤ 3 × nginx's: heliport ${ho} ms vs nginx ${no} ms ($(calc "%.1f" "($no > 0.0005) ? $ho / $no : 0") ×) — $(ok "$ho <= 3 * $no")"
done
echo "- RSS after load < 64 MiB: $RSS_MIB MiB — $(ok "$RSS_KB < 65536")"
echo "- every request recorded: ${RECORDS:-?} records for $EXPECT completed requests ($HELI_MOCK_SEEN forwarded) — $(ok "${RECORDS:-0} >= $EXPECT")"
