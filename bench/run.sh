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
#      32, runs wrk (-t1, Lua script for the POST body and headers) against
#      the mock directly, nginx and heliport, back to back per scenario so
#      drifting background load hits all three alike; after each heliport
#      run it waits until heliport's record queue has drained, so the
#      writer's backlog does not steal CPU from the next run
#   5. traffic features, heliport only, against the same floor: cache hits
#      (Helicone-Cache-Enabled on one repeated body, c1 and c32), and a
#      rate-limit policy on every request (never refusing) in-process and, when
#      Redis answers at 127.0.0.1:6379, through Redis (a second heliport)
#   6. TLS upstream: a second mock serving HTTPS (`heliport mock --tls-cert`,
#      HTTP/2 by ALPN; certificates made with openssl in the temp dir) behind
#      a third heliport that trusts its CA (HELIPORT_CA_BUNDLE); its runs
#      alternate with runs of the plain-upstream heliport, medians compared,
#      so the report shows what TLS + HTTP/2 upstream costs per request
#   7. prints markdown: a table of req/s, p50, p99, p50 overhead over the
#      mock direct and req/s ratio to nginx; a table of the CPU split
#      (wrk / mock / proxy, from /proc and bash's `time`), the proxy's CPU
#      per request and heliport's recording (records written/s, backlog,
#      drops, from its /metrics); heliport's RSS (VmRSS) after load; requests
#      sent to heliport vs records written (REST count query); the targets.
# Every process it starts is stopped on exit (trap EXIT). Load stays on
# loopback and each run is bounded by DURATION. Takes about 2.5 minutes
# plus the build.
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

# ---------------------------------------------------------------- cleanup, tools
. "$ROOT/bench/lib.sh"
bench_tmp heliport-bench
need_pkg wrk wrk
[ -x /usr/sbin/nginx ] || need_pkg nginx nginx-light
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
command -v curl >/dev/null || need_pkg curl curl
command -v openssl >/dev/null || need_pkg openssl openssl

if [ "$SKIP_BUILD" != 1 ]; then
  log "cargo build --release -p heliport (and the first-event client)"
  cargo build --release -p heliport --bin heliport --example first_event >&2
fi
BIN=$ROOT/target/release/heliport
FIRST_EVENT=$ROOT/target/release/examples/first_event
[ -x "$BIN" ] || die "no $BIN"
[ -x "$FIRST_EVENT" ] || die "no $FIRST_EVENT (cargo build --release -p heliport --example first_event)"

# ---------------------------------------------------------------- helpers
USED_PORTS=" "
reserve_port() { # variable-name: sets it to a port nothing listens on, none given twice
  local p
  while :; do
    p=$((20000 + RANDOM % 30000))
    case $USED_PORTS in *" $p "*) continue ;; esac
    if ! ss -Htan | awk '{print $4}' | grep -q ":$p\$"; then
      USED_PORTS="$USED_PORTS$p "
      printf -v "$1" '%s' "$p"
      return
    fi
  done
}

if [ "$PIN" = 1 ]; then
  PIN_WRK=(taskset -c 1); PIN_MOCK=(taskset -c 0)
else
  PIN_WRK=(); PIN_MOCK=()
fi

reserve_port MOCK_PORT; reserve_port NGINX_PORT; reserve_port HELI_PORT; reserve_port HELI2_PORT
reserve_port TMOCK_PORT; reserve_port HELI3_PORT
MOCK=http://127.0.0.1:$MOCK_PORT
NGX=http://127.0.0.1:$NGINX_PORT
HELI=http://127.0.0.1:$HELI_PORT
PATH_CHAT=/v1/chat/completions

LOADAVG0=$(cut -d' ' -f1-3 /proc/loadavg)
# Time the hypervisor ran something else on this machine's CPUs (it shows in
# the "other" column too): on a shared VM, the runs it falls in are slower.
steal_all() { awk '$1=="cpu"{print $9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat; }
read -r STEAL0 ALL0 < <(steal_all)
if pgrep -x wrk >/dev/null || pgrep -x rustc >/dev/null; then
  log "warning: wrk or rustc is already running on this machine: the numbers will be disturbed"
fi

# ---------------------------------------------------------------- mock
log "starting mock on $MOCK"
"${PIN_MOCK[@]}" "$BIN" mock --listen "127.0.0.1:$MOCK_PORT" >"$TMP/mock.log" 2>&1 &
MOCK_PID=$!
PIDS+=($MOCK_PID)
wait_http "$MOCK/__mock/health" mock 100

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
NGINX_PID=$!
PIDS+=($NGINX_PID)
wait_http "$NGX/__mock/health" nginx 100

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
wait_http "$HELI/healthz" heliport 100
RSS_START_KB=$(awk '/^VmRSS:/{print $2}' "/proc/$HELI_PID/status")

# A second heliport with its cache and limits in Redis, when Redis answers.
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
HELI2=http://127.0.0.1:$HELI2_PORT
HELI2_PID=
if (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
  log "starting heliport with Redis on $HELI2"
  HELIPORT_LISTEN=127.0.0.1:$HELI2_PORT HELIPORT_DATABASE_URL=sqlite://$TMP/bench2.db \
    HELIPORT_SPOOL_PATH=$TMP/bench2.spool HELIPORT_REDIS_URL=$REDIS_URL \
    "$BIN" keys create --name bench >/dev/null 2>&1 || true
  KEY2=$(HELIPORT_DATABASE_URL=sqlite://$TMP/bench2.db "$BIN" keys create --name bench2 2>/dev/null \
    | grep -oE 'sk-heliport-[A-Za-z0-9]+' | head -1)
  HELIPORT_LISTEN=127.0.0.1:$HELI2_PORT HELIPORT_DATABASE_URL=sqlite://$TMP/bench2.db \
    HELIPORT_SPOOL_PATH=$TMP/bench2.spool HELIPORT_REDIS_URL=$REDIS_URL \
    "$BIN" serve >"$TMP/heliport2.log" 2>&1 &
  HELI2_PID=$!
  PIDS+=($HELI2_PID)
  wait_http "$HELI2/healthz" "heliport (Redis)" 100
else
  log "no Redis at 127.0.0.1:6379: the Redis rate-limit run is skipped"
fi

# A third heliport whose upstream is a TLS mock (HTTP/2 by ALPN), trusting a
# CA made here.
log "making a CA and a certificate for the TLS mock"
mkdir -p "$TMP/tls"
( cd "$TMP/tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=heliport bench CA" -keyout ca.key -out ca.pem
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/CN=127.0.0.1" -keyout leaf.key -out leaf.csr
  printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >leaf.ext
  openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -extfile leaf.ext -out leaf.pem ) >"$TMP/tls/openssl.log" 2>&1 \
  || die "openssl failed: $(cat "$TMP/tls/openssl.log")"
TMOCK=https://127.0.0.1:$TMOCK_PORT
log "starting TLS mock on $TMOCK"
"${PIN_MOCK[@]}" "$BIN" mock --listen "127.0.0.1:$TMOCK_PORT" \
  --tls-cert "$TMP/tls/leaf.pem" --tls-key "$TMP/tls/leaf.key" >"$TMP/tlsmock.log" 2>&1 &
TMOCK_PID=$!
PIDS+=($TMOCK_PID)
for _ in $(seq 1 100); do
  curl -sf --cacert "$TMP/tls/ca.pem" -o /dev/null "$TMOCK/__mock/health" && break
  sleep 0.1
done
curl -sf --cacert "$TMP/tls/ca.pem" -o /dev/null "$TMOCK/__mock/health" || die "TLS mock did not come up"
HELI3=http://127.0.0.1:$HELI3_PORT
KEY3=$(HELIPORT_DATABASE_URL=sqlite://$TMP/bench3.db "$BIN" keys create --name bench3 2>/dev/null \
  | grep -oE 'sk-heliport-[A-Za-z0-9]+' | head -1)
log "starting heliport with the TLS upstream on $HELI3"
HELIPORT_LISTEN=127.0.0.1:$HELI3_PORT HELIPORT_DATABASE_URL=sqlite://$TMP/bench3.db \
  HELIPORT_SPOOL_PATH=$TMP/bench3.spool HELIPORT_OPENAI_BASE_URL=$TMOCK \
  HELIPORT_CA_BUNDLE=$TMP/tls/ca.pem "$BIN" serve >"$TMP/heliport3.log" 2>&1 &
HELI3_PID=$!
PIDS+=($HELI3_PID)
wait_http "$HELI3/healthz" "heliport (TLS upstream)" 100

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
# Traffic features: a cached body, and a policy that never refuses.
{ cat "$TMP/plain.lua"; echo 'wrk.headers["Helicone-Cache-Enabled"] = "true"'; } >"$TMP/cache.lua"
{ cat "$TMP/plain.lua"; echo 'wrk.headers["Helicone-RateLimit-Policy"] = "1000000000;w=60"'; } >"$TMP/limit.lua"
if [ -n "$HELI2_PID" ]; then
  sed "s/$KEY/$KEY2/" "$TMP/limit.lua" >"$TMP/redislimit.lua"
fi
for mode in plain stream; do sed "s/$KEY/$KEY3/" "$TMP/$mode.lua" >"$TMP/tls$mode.lua"; done

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
for mode in plain stream; do
  if [ $mode = plain ]; then b=$BODY; want='"choices"'; else b=$SBODY; want='data: [DONE]'; fi
  out=$(curl -sS -X POST "$HELI3$PATH_CHAT" -H "Content-Type: application/json" \
    -H "Authorization: Bearer sk-test" -H "Helicone-Auth: Bearer $KEY3" -d "$b") \
    || die "smoke request to $HELI3 failed"
  grep -qF "$want" <<<"$out" || die "unexpected $mode reply from the TLS-upstream heliport: $out"
done
grep -q '"version":"HTTP/2.0"' <<<"$(curl -s --cacert "$TMP/tls/ca.pem" "$TMOCK/__mock/requests")" \
  || die "heliport did not reach the TLS mock over HTTP/2"

# ---------------------------------------------------------------- wrk runs
to_ms() { # "123.45us" | "1.2ms" | "1.5s" -> milliseconds
  awk -v v="$1" 'BEGIN{
    n=v; sub(/[a-z]+$/,"",n); u=v; sub(/^[0-9.]+/,"",u);
    if(u=="us")f=0.001; else if(u=="ms")f=1; else if(u=="s")f=1000; else if(u=="m")f=60000; else f=1;
    printf "%.3f", n*f }'
}

declare -A RPS P50 P99 REQS ERRS CPU_WRK CPU_MOCK CPU_PROXY BACKLOG
HELI_SENT=0
TICK=$(getconf CLK_TCK)

# CPU ticks (user + system, all threads) used so far by a process, or by an
# nginx master and its workers.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# All CPUs' busy ticks (everything but idle and iowait), from /proc/stat.
busy_ticks() { awk '$1=="cpu"{print $2+$3+$4+$7+$8+$9}' /proc/stat; }

# Stop with a clear message if a process this script started has gone.
check_alive() {
  local name pid rc
  for name in mock nginx heliport; do
    case $name in mock) pid=$MOCK_PID ;; nginx) pid=$NGINX_PID ;; heliport) pid=$HELI_PID ;; esac
    if ! kill -0 "$pid" 2>/dev/null; then
      rc=0; wait "$pid" 2>/dev/null || rc=$?
      die "$name (pid $pid) is no longer running (exit status $rc$( [ "$rc" -gt 128 ] && echo ", signal $((rc - 128))")); its log: $(tail -c 2000 "$TMP/$name.log" 2>/dev/null || tail -c 2000 "$TMP/nginx/error.log")"
    fi
  done
}
proxy_ticks() { # target
  case $1 in
    mock) echo 0 ;;
    heliport|heliport-plain|heliport-cache|heliport-limit) ticks "$HELI_PID" ;;
    heliport-redis|heliport-redisplain) ticks "$HELI2_PID" ;;
    heliport-tls) ticks "$HELI3_PID" ;;
    nginx)
      local sum=0 p
      for p in $NGINX_PID $(pgrep -P "$NGINX_PID"); do sum=$((sum + $(ticks "$p"))); done
      echo $sum ;;
  esac
}
# heliport's own counters: records queued, written, spooled, dropped.
heli_metric() { # name [base URL]
  curl -s "${2:-$HELI}/metrics" | awk -v m="heliport_records_$1_total" '$1==m{printf "%d", $2; f=1} END{if(!f) print 0}'
}

# Wait (at most 120 s) until heliport's writer has nothing queued and its
# spool is written back, so a backlog does not eat CPU in the next target's
# run; sets DRAIN_S.
drain_heliport() { # [base URL]
  local start
  start=$(date +%s.%N)
  RECORDED_AT=$start
  wait_recorded "${1:-$HELI}" || { log "heliport still had records to write after 120 s"; RECORDED_AT=$(date +%s.%N); }
  DRAIN_S=$(awk -v a="$start" -v b="$RECORDED_AT" 'BEGIN{printf "%.1f", b - a}')
}

run_wrk() { # target url mode conc seconds -> sets LAST_*
  local target=$1 url=$2 mode=$3 conc=$4 secs=$5 out m0 p0 b0 m1 p1 b1 wcpu
  local w0=0 d0=0
  case $target in heliport*) IS_HELI=1 ;; *) IS_HELI=0 ;; esac
  case $target in heliport-redis*|heliport-tls) IS_HELI=0 ;; esac
  if [ "$IS_HELI" = 1 ]; then w0=$(heli_metric written); d0=$(heli_metric dropped); fi
  m0=$(ticks "$MOCK_PID"); p0=$(proxy_ticks "$target"); b0=$(busy_ticks)
  out=$( { TIMEFORMAT='%U %S'; time "${PIN_WRK[@]}" wrk -t1 -c"$conc" -d"${secs}s" --latency \
           -s "$TMP/$mode.lua" "$url$PATH_CHAT" 2>&1; } 2>"$TMP/wrk.time" ) \
    || die "wrk failed against $target: $out"
  m1=$(ticks "$MOCK_PID"); p1=$(proxy_ticks "$target"); b1=$(busy_ticks)
  check_alive
  wcpu=$(awk '{print $1 + $2}' "$TMP/wrk.time")
  echo "=== $target $mode c$conc ${secs}s" >>"$TMP/wrk.log"
  echo "$out" >>"$TMP/wrk.log"
  LAST_RPS=$(awk '/^Requests\/sec:/{print $2}' <<<"$out")
  LAST_P50=$(to_ms "$(awk '$1=="50%"{print $2}' <<<"$out")")
  LAST_P99=$(to_ms "$(awk '$1=="99%"{print $2}' <<<"$out")")
  LAST_REQS=$(awk '/requests in/{print $1}' <<<"$out")
  # CPU used during the run, in % of one core
  LAST_CPU_WRK=$(awk -v c="$wcpu" -v s="$secs" 'BEGIN{printf "%.0f", 100 * c / s}')
  LAST_CPU_MOCK=$(awk -v t=$((m1 - m0)) -v k="$TICK" -v s="$secs" 'BEGIN{printf "%.0f", 100 * t / k / s}')
  LAST_CPU_PROXY=$(awk -v t=$((p1 - p0)) -v k="$TICK" -v s="$secs" 'BEGIN{printf "%.0f", 100 * t / k / s}')
  LAST_PROXY_TICKS=$((p1 - p0))
  # busy CPU not charged to wrk, mock or proxy: softirq (loopback TCP) and
  # anything else running on the machine; a large value means interference
  LAST_CPU_OTHER=$(awk -v b=$((b1 - b0)) -v o=$((m1 - m0 + p1 - p0)) -v w="$wcpu" -v k="$TICK" -v s="$secs" \
    'BEGIN{v = 100 * ((b - o) / k - w) / s; if (v < 0) v = 0; printf "%.0f", v}')
  local non2xx sock
  non2xx=$(awk '/Non-2xx/{print $NF}' <<<"$out"); non2xx=${non2xx:-0}
  sock=$(awk '/Socket errors/{gsub(/,/,""); print $4+$6+$8+$10}' <<<"$out"); sock=${sock:-0}
  LAST_ERRS=$((non2xx + sock))
  LAST_BACKLOG=—; LAST_WRATE=—; LAST_DROPPED=—
  if [ "$IS_HELI" = 1 ]; then
    HELI_SENT=$((HELI_SENT + LAST_REQS))
    LAST_WRATE=$(( ($(heli_metric written) - w0) / secs ))
    LAST_DROPPED=$(( $(heli_metric dropped) - d0 ))
    # records accepted by the queue but not yet in SQLite when the run ended
    LAST_BACKLOG=$(( $(heli_metric queued) - $(heli_metric written) - $(heli_metric spooled) ))
  fi
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

declare -A US_PER_REQ WRATE DROPS DRAIN RSS_RUN_KB CPU_OTHER
RSS0_KB=$(awk '/^VmRSS:/{print $2}' "/proc/$HELI_PID/status")
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
    CPU_WRK[$k]=$LAST_CPU_WRK; CPU_MOCK[$k]=$LAST_CPU_MOCK; CPU_PROXY[$k]=$LAST_CPU_PROXY
    CPU_OTHER[$k]=$LAST_CPU_OTHER
    BACKLOG[$k]=$LAST_BACKLOG; WRATE[$k]=$LAST_WRATE; DROPS[$k]=$LAST_DROPPED; DRAIN[$k]=—
    if [ "$t" = heliport ]; then
      RSS_RUN_KB[$k]=$(awk '/^VmRSS:/{print $2}' "/proc/$HELI_PID/status")
      drain_heliport; DRAIN[$k]=$DRAIN_S
    fi
    # proxy CPU per request, microseconds
    US_PER_REQ[$k]=$(awk -v t="$LAST_PROXY_TICKS" -v k="$TICK" -v n="$LAST_REQS" 'BEGIN{printf "%.0f", (n > 0) ? 1e6 * t / k / n : 0}')
  done
done

# ---------------------------------------------------------------- traffic features
# A policy's cost is small next to this machine's run-to-run drift (±20 % between
# back-to-back plain runs), so each policy run alternates with a plain run of
# the same instance, ROUNDS times, and the medians are compared. The cache
# runs come last, as their hits can outrun the record writer.
ROUNDS=${ROUNDS:-3}
TDUR=${TDUR:-5}
declare -A TRPS TP50 TUS
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END{print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
measure_traffic() { # key target url script conc seconds rounds
  local key=$1 t=$2 url=$3 script=$4 conc=$5 secs=$6 rounds=$7 r rps="" p50="" us=""
  for r in $(seq 1 "$rounds"); do
    run_wrk "$t" "$url" "$script" "$conc" "$secs"
    rps="$rps $LAST_RPS"; p50="$p50 $LAST_P50"
    us="$us $(awk -v t="$LAST_PROXY_TICKS" -v k="$TICK" -v n="$LAST_REQS" 'BEGIN{printf "%.0f", (n > 0) ? 1e6 * t / k / n : 0}')"
    case $t in heliport-redis*) ;; heliport-tls) drain_heliport "$HELI3" ;; *) drain_heliport ;; esac
  done
  TRPS[$key]=$(median <<<"$rps"); TP50[$key]=$(median <<<"$p50"); TUS[$key]=$(median <<<"$us")
}
pair() { # plain-target policy-target url plain-script policy-script
  local r
  for r in $(seq 1 "$ROUNDS"); do
    log "measure $1 / $2 c32, round $r of $ROUNDS (${TDUR}s each)"
    measure_traffic "$1/32/$r" "$1" "$3" "$4" 32 "$TDUR" 1
    measure_traffic "$2/32/$r" "$2" "$3" "$5" 32 "$TDUR" 1
  done
  for t in "$1" "$2"; do
    local rps="" p50="" us=""
    for r in $(seq 1 "$ROUNDS"); do
      rps="$rps ${TRPS[$t/32/$r]}"; p50="$p50 ${TP50[$t/32/$r]}"; us="$us ${TUS[$t/32/$r]}"
    done
    TRPS[$t/32]=$(median <<<"$rps"); TP50[$t/32]=$(median <<<"$p50"); TUS[$t/32]=$(median <<<"$us")
  done
}
pair heliport-plain heliport-limit "$HELI" plain limit
TRAFFIC=("heliport-plain plain 32" "heliport-limit limit 32")
if [ -n "$HELI2_PID" ]; then
  sed "s/$KEY/$KEY2/" "$TMP/plain.lua" >"$TMP/redisplain.lua"
  pair heliport-redisplain heliport-redis "$HELI2" redisplain redislimit
  TRAFFIC+=("heliport-redisplain redisplain 32" "heliport-redis redislimit 32")
fi
# The first cached call fills the entry; every later one is a hit.
curl -sS -o /dev/null -X POST "$HELI$PATH_CHAT" -H "Content-Type: application/json" \
  -H "Authorization: Bearer sk-test" -H "Helicone-Auth: Bearer $KEY" -H "Helicone-Cache-Enabled: true" -d "$BODY"
HELI_SENT=$((HELI_SENT + 1))
for conc in 1 32; do
  log "measure heliport-cache c$conc (${DURATION}s)"
  measure_traffic "heliport-cache/$conc" heliport-cache "$HELI" cache "$conc" "$DURATION" 1
  TRAFFIC+=("heliport-cache cache $conc")
done

# TLS upstream: runs of the TLS-upstream instance alternate with runs of the
# plain one (same build, same settings), ROUNDS times per scenario; medians.
TLS_SCEN=("plain 1" "plain 32" "stream 32")
for sc in "${TLS_SCEN[@]}"; do
  read -r mode conc <<<"$sc"
  for r in $(seq 1 "$ROUNDS"); do
    log "measure TLS upstream vs plain, $mode c$conc, round $r of $ROUNDS (${TDUR}s each)"
    measure_traffic "tlsref/$mode/$conc/$r" heliport-plain "$HELI" "$mode" "$conc" "$TDUR" 1
    measure_traffic "tls/$mode/$conc/$r" heliport-tls "$HELI3" "tls$mode" "$conc" "$TDUR" 1
  done
  for t in tlsref tls; do
    rps="" p50="" us=""
    for r in $(seq 1 "$ROUNDS"); do
      rps="$rps ${TRPS[$t/$mode/$conc/$r]}"; p50="$p50 ${TP50[$t/$mode/$conc/$r]}"; us="$us ${TUS[$t/$mode/$conc/$r]}"
    done
    TRPS[$t/$mode/$conc]=$(median <<<"$rps"); TP50[$t/$mode/$conc]=$(median <<<"$p50"); TUS[$t/$mode/$conc]=$(median <<<"$us")
  done
done
TLS_CONNS=$(curl -s --cacert "$TMP/tls/ca.pem" "$TMOCK/__mock/connections")

# ---------------------------------------------------------------- after load
RSS_KB=$(awk '/^VmRSS:/{print $2}' "/proc/$HELI_PID/status")
HWM_KB=$(awk '/^VmHWM:/{print $2}' "/proc/$HELI_PID/status")

# Records are written in batches: wait (at most 120 s) until heliport's
# writer has nothing queued, then count what the REST API sees.
count_records() {
  curl -s -X POST "$HELI/v1/request/count/query" -H "Authorization: Bearer $KEY" \
    -H "Content-Type: application/json" -d '{}' | sed -nE 's/.*"data": *([0-9]+).*/\1/p'
}
EXPECT=$((HELI_SENT + SMOKE_HELI))
drain_heliport
sleep 0.5
RECORDS=$(count_records)
DROPPED=$(heli_metric dropped); SPOOLED=$(heli_metric spooled)
LOG_ERR=$(grep -c 'ERROR' "$TMP/heliport.log" || true)
LOG_WARN=$(grep -c 'WARN' "$TMP/heliport.log" || true)
LOG_FIRST=$(grep -m1 -E 'ERROR|WARN' "$TMP/heliport.log" | sed -E 's/\x1b\[[0-9;]*m//g' | cut -c1-200 || true)
RSS_DRAINED_KB=$(awk '/^VmRSS:/{print $2}' "/proc/$HELI_PID/status")
HELI_MOCK_SEEN=$((HELI_MOCK_SEEN + SMOKE_HELI))

# ---------------------------------------------------------------- first event
# Time from a streaming request to its first event over one keep-alive
# connection, sequential requests; the mock paces its events 1 ms apart, as a
# provider does, so the first event travels alone. Runs alternate between
# targets, ROUNDS times; medians of the p50s.
FE_N=${FE_N:-400}
FE_BODY='{"model":"gpt-4o","messages":[{"role":"user","content":"Say hello"}],"stream":true,"stream_options":{"include_usage":true}}'
declare -A FE
for r in $(seq 1 "$ROUNDS"); do
  for t in "${TARGETS[@]}"; do
    log "first event: $t, round $r of $ROUNDS ($FE_N requests)"
    extra=()
    if [ "$t" = heliport ]; then extra=("Helicone-Auth:Bearer $KEY"); fi
    out=$("${PIN_WRK[@]}" "$FIRST_EVENT" "${URL[$t]}$PATH_CHAT" "$FE_N" "$FE_BODY" \
      "Authorization:Bearer sk-test" "x-mock-chunk-delay-ms:1" "x-mock-words:1" "${extra[@]}") \
      || die "first_event failed against $t: $out"
    FE[$t/$r]=$(sed -nE 's/.*"p50_us":([0-9]+).*/\1/p' <<<"$out")
  done
done
for t in "${TARGETS[@]}"; do
  v=""; for r in $(seq 1 "$ROUNDS"); do v="$v ${FE[$t/$r]}"; done
  FE[$t]=$(median <<<"$v")
done
drain_heliport

# ---------------------------------------------------------------- scaling
# How cost grows with the work: each case at two sizes, heliport and nginx
# back to back at c4, against a small plain request. heliport's peak RSS is
# reset before each of its runs (clear_refs) and read after, so the growth is
# what that work held.
SCONC=${SCONC:-4}
scale_script() { # name kind size
  local f="$TMP/scale-$1.lua"
  {
    echo 'wrk.method = "POST"'
    echo 'wrk.headers["Content-Type"] = "application/json"'
    echo 'wrk.headers["Authorization"] = "Bearer sk-test"'
    echo "wrk.headers[\"Helicone-Auth\"] = \"Bearer $KEY\""
    case $2 in
      base) echo "wrk.body = '$BODY'" ;;
      prompt)
        echo "local pad = string.rep(\"lorem ipsum \", math.floor($3 * 1024 / 12))"
        echo "wrk.body = '{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"' .. pad .. '\"}]}'" ;;
      answer)
        echo "wrk.body = '$BODY'"
        echo "wrk.headers[\"x-mock-words\"] = \"$3\"" ;;
      events)
        echo "wrk.body = '$SBODY'"
        echo "wrk.headers[\"x-mock-words\"] = \"$3\"" ;;
      props)
        echo "wrk.body = '$BODY'"
        echo "for i = 1, $3 do wrk.headers[\"Helicone-Property-P\" .. i] = \"value-\" .. i end" ;;
    esac
  } >"$f"
}
SCALE=("base base 0" "prompt50 prompt 50" "prompt100 prompt 100" "answer50k answer 50000" "answer100k answer 100000"
       "events1000 events 1000" "events2000 events 2000" "props50 props 50" "props100 props 100")
declare -A SC_US SC_NGX SC_HWM SC_RPS SC_BYTES
for sc in "${SCALE[@]}"; do
  read -r name kind size <<<"$sc"
  scale_script "$name" "$kind" "$size"
  case $kind in
    answer|events)
      if [ "$kind" = answer ]; then b=$BODY; else b=$SBODY; fi
      SC_BYTES[$name]=$(curl -s -o /dev/null -w '%{size_download}' -X POST "$MOCK$PATH_CHAT" \
        -H "Content-Type: application/json" -H "x-mock-words: $size" -d "$b") ;;
  esac
  for t in heliport nginx; do
    log "scaling: $name on $t (${TDUR}s c$SCONC)"
    if [ "$t" = heliport ]; then
      rss0=$(awk '/^VmRSS:/{print $2}' "/proc/$HELI_PID/status")
      echo 5 >"/proc/$HELI_PID/clear_refs" 2>/dev/null || true
    fi
    run_wrk "$t" "${URL[$t]}" "scale-$name" "$SCONC" "$TDUR"
    ticks=$LAST_PROXY_TICKS
    if [ "$t" = heliport ]; then
      hwm=$(awk '/^VmHWM:/{print $2}' "/proc/$HELI_PID/status")
      SC_HWM[$name]=$((hwm > rss0 ? hwm - rss0 : 0))
      # What recording these requests costs after the run (the queue's
      # backlog, the spool written back) counts in their CPU too.
      t0=$(proxy_ticks heliport)
      drain_heliport
      ticks=$((ticks + $(proxy_ticks heliport) - t0))
    fi
    us=$(awk -v t="$ticks" -v k="$TICK" -v n="$LAST_REQS" 'BEGIN{printf "%.0f", (n > 0) ? 1e6 * t / k / n : 0}')
    if [ "$t" = heliport ]; then
      SC_US[$name]=$us; SC_RPS[$name]=$LAST_RPS
    else
      SC_NGX[$name]=$us
    fi
  done
done

# ---------------------------------------------------------------- report
calc() { awk "BEGIN{printf \"$1\", $2}"; }
mib() { calc "%.1f" "$1 / 1024"; }
ok() { if awk "BEGIN{exit !($1)}"; then echo "met"; else echo "MISSED"; fi; }
label_of() { if [ "$1" = plain ]; then echo non-streaming; else echo streaming; fi; }
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain -- crates Cargo.toml Cargo.lock 2>/dev/null)" ]; then
  COMMIT="$COMMIT (+ uncommitted changes in the work tree)"
fi
CPU=$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)
MEM=$(awk '/^MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)

echo "## heliport benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "- machine: $(nproc) cores, $CPU, $MEM RAM, $(uname -sr); load average before the run: $LOADAVG0"
read -r STEAL1 ALL1 < <(steal_all)
echo "- CPU time stolen by the hypervisor over the whole run: $(awk -v s=$((STEAL1 - STEAL0)) -v a=$((ALL1 - ALL0)) 'BEGIN{printf "%.1f", (a > 0 ? 100 * s / a : 0)}') % of the machine's"
echo "- heliport commit: $COMMIT (release build)"
echo "- wrk $(wrk -v 2>&1 | awk 'NR==1{print $2}') (-t1, Lua script for the POST body and headers), $("$NGINX" -v 2>&1 | sed 's/.*: //') (2 workers, keepalive 64 upstream, proxy_buffering off)"
echo "- ${DURATION}s per measured run, after a ${WARMUP}s non-streaming + ${WARMUP}s streaming warm-up (c32) per target; per scenario the three targets run back to back"
if [ "$PIN" = 1 ]; then
  echo "- pinning (taskset): wrk on CPU 1, mock on CPU 0, nginx / heliport unpinned"
else
  echo "- pinning: none"
fi
echo "- overhead = p50(target) − p50(mock direct); vs nginx = target req/s ÷ nginx req/s (same run)"
echo
echo "| mode | conc | target | req/s | p50 ms | p99 ms | overhead p50 ms | vs nginx | errors |"
echo "|---|---:|---|---:|---:|---:|---:|---:|---:|"
for sc in "${SCENARIOS[@]}"; do
  read -r mode conc <<<"$sc"
  for t in "${TARGETS[@]}"; do
    k="$t/$mode/$conc"; km="mock/$mode/$conc"; kn="nginx/$mode/$conc"
    if [ "$t" = mock ]; then ovh="—"; else ovh=$(calc "%+.3f" "${P50[$k]} - ${P50[$km]}"); fi
    ratio=$(calc "%.2f" "${RPS[$k]} / ${RPS[$kn]}")
    printf '| %s | %s | %s | %.0f | %.3f | %.3f | %s | %s | %s |\n' \
      "$(label_of "$mode")" "$conc" "$t" "${RPS[$k]}" "${P50[$k]}" "${P99[$k]}" "$ovh" "$ratio" "${ERRS[$k]}"
  done
done
echo
echo "CPU during each measured run (% of one core; the machine has $(nproc)00 %; \"other\" is busy CPU charged to none of the three: softirq and anything else on the machine), the proxy's CPU per request, and heliport's recording during the run: records written to SQLite per second, record backlog (queued, not yet written) when the run ended, records dropped because the queue was full, seconds the writer then needed to drain the backlog (the next run waits for it), heliport's RSS when the run ended:"
echo
echo "| mode | conc | target | wrk % | mock % | proxy % | other % | proxy µs/req | records written/s | backlog at end | dropped | drain s | RSS MiB |"
echo "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for sc in "${SCENARIOS[@]}"; do
  read -r mode conc <<<"$sc"
  for t in "${TARGETS[@]}"; do
    k="$t/$mode/$conc"
    if [ "$t" = mock ]; then px="—"; us="—"; else px=${CPU_PROXY[$k]}; us=${US_PER_REQ[$k]}; fi
    rss=—; if [ "$t" = heliport ]; then rss=$(mib "${RSS_RUN_KB[$k]}"); fi
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
      "$(label_of "$mode")" "$conc" "$t" "${CPU_WRK[$k]}" "${CPU_MOCK[$k]}" "$px" "${CPU_OTHER[$k]}" "$us" \
      "${WRATE[$k]}" "${BACKLOG[$k]}" "${DROPS[$k]}" "${DRAIN[$k]}" "$rss"
  done
done
echo
echo "- heliport RSS: $(mib "$RSS_START_KB") MiB at start, $(mib "$RSS0_KB") MiB after the warm-ups, **$(mib "$RSS_KB") MiB right after load**, $(mib "$RSS_DRAINED_KB") MiB once the record queue had drained; peak (VmHWM) $(mib "$HWM_KB") MiB"
echo "- heliport records: $EXPECT requests completed by wrk and the smoke test, $HELI_MOCK_SEEN forwarded to the mock (includes requests cut off by wrk stopping), **${RECORDS:-?} records written**; dropped $DROPPED, spooled $SPOOLED"
echo "- heliport log (HELIPORT_LOG=warn): $LOG_ERR ERROR and $LOG_WARN WARN lines${LOG_FIRST:+; first: \`$LOG_FIRST\`}"
echo
echo "Targets:"
r32=$(calc "%.2f" "${RPS[heliport/plain/32]} / ${RPS[nginx/plain/32]}")
goal=$( [ "$(ok "$r32 >= 0.8")" = met ] && echo "goal 0.8 × met" || echo "goal 0.8 × not met")
echo "- c32 non-streaming throughput ≥ 0.5 × nginx: ${r32} × — $(ok "$r32 >= 0.5") ($goal)"
for mode in plain stream; do
  ho=$(calc "%.3f" "${P50[heliport/$mode/1]} - ${P50[mock/$mode/1]}")
  no=$(calc "%.3f" "${P50[nginx/$mode/1]} - ${P50[mock/$mode/1]}")
  x=$(calc "%.1f" "($no > 0.0005) ? $ho / $no : 0")
  echo "- c1 $(label_of "$mode") overhead ≤ 3 × nginx's: heliport ${ho} ms vs nginx ${no} ms (${x} ×) — $(ok "$ho <= 3 * $no")"
done
echo "- RSS after load < 64 MiB: $(mib "$RSS_KB") MiB — $(ok "$RSS_KB < 65536")"
echo
echo "Traffic features (heliport only; non-streaming; policy runs: medians of $ROUNDS ${TDUR}s runs alternating with plain runs of the same instance; \"vs plain\" = against those, \"vs nginx\" = the floor above):"
echo
echo "| run | conc | req/s | p50 ms | proxy µs/req | vs nginx | vs plain |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for sc in "${TRAFFIC[@]}"; do
  read -r t script conc <<<"$sc"
  k="$t/$conc"; ref=heliport-plain/$conc
  case $t in
    heliport-plain) name="plain (reference)" ;;
    heliport-redisplain) name="plain, Redis instance (reference)"; ref=heliport-redisplain/$conc ;;
    heliport-cache) name="cache hit"; ref=heliport/plain/$conc ;;
    heliport-limit) name="rate-limit policy, in-process" ;;
    heliport-redis) name="rate-limit policy, Redis"; ref=heliport-redisplain/$conc ;;
  esac
  base=${TRPS[$ref]:-${RPS[$ref]}}
  printf '| %s | %s | %.0f | %.3f | %s | %s | %s |\n' "$name" "$conc" "${TRPS[$k]}" "${TP50[$k]}" "${TUS[$k]}" \
    "$(calc "%.2f" "${TRPS[$k]} / ${RPS[nginx/plain/$conc]}")" "$(calc "%.2f" "${TRPS[$k]} / $base")"
done
echo
hit=${TP50[heliport-cache/1]}; ngx=${P50[nginx/plain/1]}
echo "- a cache hit answers faster than a call through nginx (c1 p50): ${hit} ms vs ${ngx} ms — $(ok "$hit < $ngx")"
lim=$(calc "%.2f" "${TRPS[heliport-limit/32]} / ${TRPS[heliport-plain/32]}")
echo "- an in-process policy costs ≤ 10 % of throughput (c32): ${lim} × plain — $(ok "$lim >= 0.9")"
if [ -n "$HELI2_PID" ]; then
  red=$(calc "%.2f" "${TRPS[heliport-redis/32]} / ${TRPS[heliport-redisplain/32]}")
  echo "- a Redis policy costs ≤ 25 % of throughput (c32): ${red} × plain — $(ok "$red >= 0.75")"
else
  echo "- a Redis policy: not measured (no Redis at 127.0.0.1:6379)"
fi
echo
echo "TLS upstream (heliport → \`heliport mock --tls-cert\`, HTTP/2 by ALPN, CA from HELIPORT_CA_BUNDLE) next to the plain upstream (heliport → plain mock, HTTP/1.1); medians of $ROUNDS ${TDUR}s runs, alternating; \"TLS cost\" = heliport's CPU per request with the TLS upstream minus with the plain one (the TLS mock's own CPU is not counted):"
echo
echo "| mode | conc | upstream | req/s | p50 ms | heliport µs/req | TLS cost µs/req | p50 added ms |"
echo "|---|---:|---|---:|---:|---:|---:|---:|"
for sc in "${TLS_SCEN[@]}"; do
  read -r mode conc <<<"$sc"
  printf '| %s | %s | plain, HTTP/1.1 | %.0f | %.3f | %s | — | — |\n' "$(label_of "$mode")" "$conc" \
    "${TRPS[tlsref/$mode/$conc]}" "${TP50[tlsref/$mode/$conc]}" "${TUS[tlsref/$mode/$conc]}"
  printf '| %s | %s | TLS, HTTP/2 | %.0f | %.3f | %s | %s | %+.3f |\n' "$(label_of "$mode")" "$conc" \
    "${TRPS[tls/$mode/$conc]}" "${TP50[tls/$mode/$conc]}" "${TUS[tls/$mode/$conc]}" \
    "$(calc "%+.0f" "${TUS[tls/$mode/$conc]} - ${TUS[tlsref/$mode/$conc]}")" \
    "$(calc "%.3f" "${TP50[tls/$mode/$conc]} - ${TP50[tlsref/$mode/$conc]}")"
done
echo
echo "- TLS mock connections over the whole TLS run: $TLS_CONNS (HTTP/2 multiplexes every concurrent request on one)"
echo "- every request recorded: ${RECORDS:-0} records ≥ $EXPECT completed requests, none dropped — $(ok "${RECORDS:-0} >= $EXPECT && $DROPPED == 0")"

echo
echo "First event of a stream at 1 connection (\`examples/first_event.rs\`: $FE_N sequential streaming requests on one keep-alive connection per run, the mock pacing events 1 ms apart; medians of $ROUNDS runs' p50, alternating targets):"
echo
echo "| target | first event p50 µs | overhead µs |"
echo "|---|---:|---:|"
for t in "${TARGETS[@]}"; do
  if [ "$t" = mock ]; then o="—"; else o=$(calc "%+.0f" "${FE[$t]} - ${FE[mock]}"); fi
  echo "| $t | ${FE[$t]} | $o |"
done
echo
echo "How cost grows with the work (heliport and nginx at c$SCONC, ${TDUR}s each; CPU per request, for heliport with what recording them took after the run (the queue drained, the spool written back); \"extra\" = heliport's µs/req above the small plain request; \"per doubling\" = extra at the larger size ÷ extra at the smaller, 2.0 for a cost linear in size; peak RSS growth = heliport's VmHWM during the run above its RSS before it):"
echo
echo "| case | size | heliport req/s | heliport µs/req | nginx µs/req | extra µs | per doubling | peak RSS growth MiB |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
prev_extra=0
for sc in "${SCALE[@]}"; do
  read -r name kind size <<<"$sc"
  extra=$(calc "%.0f" "${SC_US[$name]} - ${SC_US[base]}")
  case $kind in
    base) label="small plain request"; sz="—" ;;
    prompt) label="prompt"; sz="${size} KB" ;;
    answer) label="JSON answer"; sz="$(calc "%.2f" "${SC_BYTES[$name]} / 1e6") MB" ;;
    events) label="stream"; sz="$size events, $(calc "%.0f" "${SC_BYTES[$name]} / 1e3") KB" ;;
    props) label="properties"; sz="$size headers" ;;
  esac
  dbl="—"
  case $name in
    prompt100|answer100k|events2000|props100) dbl=$(calc "%.1f" "($prev_extra > 0) ? $extra / $prev_extra : 0") ;;
  esac
  prev_extra=$extra
  printf '| %s | %s | %.0f | %s | %s | %s | %s | %s |\n' "$label" "$sz" "${SC_RPS[$name]}" "${SC_US[$name]}" \
    "${SC_NGX[$name]}" "$( [ "$kind" = base ] && echo — || echo "$extra")" "$dbl" "$(mib "${SC_HWM[$name]}")"
done
echo
echo "Issue 7's goals (every request recorded, same run as the nginx floor):"
echo
echo "| measure | heliport | must | goal | |"
echo "|---|---:|---:|---:|---|"
goal_row() { # label value must-expr goal-expr must-text goal-text
  local st="MISSED"
  if [ "$(ok "$3")" = met ]; then st="must met"; fi
  if [ "$(ok "$4")" = met ]; then st="goal met"; fi
  echo "| $1 | $2 | $5 | $6 | $st |"
}
r_plain=$(calc "%.2f" "${RPS[heliport/plain/32]} / ${RPS[nginx/plain/32]}")
r_stream=$(calc "%.2f" "${RPS[heliport/stream/32]} / ${RPS[nginx/stream/32]}")
ho=$(calc "%.3f" "${P50[heliport/plain/1]} - ${P50[mock/plain/1]}")
no=$(calc "%.3f" "${P50[nginx/plain/1]} - ${P50[mock/plain/1]}")
x_ovh=$(calc "%.1f" "($no > 0.0005) ? $ho / $no : 99")
fh=$(calc "%.0f" "${FE[heliport]} - ${FE[mock]}"); fn=$(calc "%.0f" "${FE[nginx]} - ${FE[mock]}")
x_fe=$(calc "%.1f" "($fn > 0) ? $fh / $fn : 99")
x_cpu=$(calc "%.1f" "${US_PER_REQ[heliport/plain/32]} / ${US_PER_REQ[nginx/plain/32]}")
x_cpus=$(calc "%.1f" "${US_PER_REQ[heliport/stream/32]} / ${US_PER_REQ[nginx/stream/32]}")
goal_row "non-streaming req/s at 32 connections ÷ nginx" "$r_plain" "$r_plain >= 0.6" "$r_plain >= 0.8" "≥ 0.6" "≥ 0.8"
goal_row "streaming req/s at 32 connections ÷ nginx" "$r_stream" "$r_stream >= 0.6" "$r_stream >= 0.8" "≥ 0.6" "≥ 0.8"
goal_row "overhead at 1 connection, non-streaming ÷ nginx's" "$x_ovh × ($ho vs $no ms)" "$x_ovh <= 1.5" "$x_ovh <= 1.2" "≤ 1.5 ×" "≤ 1.2 ×"
goal_row "first-event overhead of a stream at 1 connection ÷ nginx's" "$x_fe × ($fh vs $fn µs)" "$x_fe <= 2" "$x_fe <= 1.5" "≤ 2 ×" "≤ 1.5 ×"
goal_row "CPU per proxied request ÷ nginx's (c32 non-streaming)" "$x_cpu × (${US_PER_REQ[heliport/plain/32]} vs ${US_PER_REQ[nginx/plain/32]} µs)" "$x_cpu <= 2" "$x_cpu <= 1.5" "≤ 2 ×" "≤ 1.5 ×"
goal_row "CPU per proxied request ÷ nginx's (c32 streaming)" "$x_cpus × (${US_PER_REQ[heliport/stream/32]} vs ${US_PER_REQ[nginx/stream/32]} µs)" "$x_cpus <= 2" "$x_cpus <= 1.5" "≤ 2 ×" "≤ 1.5 ×"
goal_row "RSS after load" "$(mib "$RSS_KB") MiB" "$RSS_KB < 65536" "$RSS_KB < 49152" "< 64 MiB" "< 48 MiB"
