#!/usr/bin/env bash
# Instructions a proxied request costs, counted by valgrind's callgrind: the
# same count for the same binary and load whatever else the machine does, so
# a regression shows here where the wall-time runs of bench/run.sh are within
# their noise (bench/PROFILE.md, sections 12-16, used this by hand).
#
#   bench/instructions.sh            # build release, print a markdown table
#   SKIP_BUILD=1 bench/instructions.sh
#
# Environment:
#   SKIP_BUILD=0     1: use the existing target/release/heliport
#   CONC=32          wrk connections (the paced stream always runs at one)
#   ONLY=<regex>     only the rows it matches: plain, stream, paced
#   DURATION=15      seconds counted (after a 3 s warm-up that is not)
#   KEEP_TMP=0       1: keep the temp dir (callgrind outputs, logs)
#   SCALING=0        1: instead, bench/run.sh's "how cost grows" cases (a large
#                    prompt, answer, stream, many properties; each at two sizes)
#                    at CONC (default 4 then), with the ratio a doubling costs;
#                    ONLY=<regex> runs only the cases it matches (e.g. prompt)
#
# For each of a non-streamed and a streamed chat completion (the bodies of
# bench/run.sh), and a stream paced as providers send one (20 words, events
# 1 ms apart, each in a read of its own), it starts `heliport mock` and
# `heliport serve` (auth required, every request recorded to SQLite) under
# callgrind, drives it with
# wrk, zeroes the counters after the warm-up and dumps them at the end. Per
# request = the dump's count / the requests wrk completed, split into the
# request threads (`workers.rs`) and the record writer (`serve.rs`); calls to
# glibc's malloc are counted too. Runs take about 1.5 min each.

set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SKIP_BUILD=${SKIP_BUILD:-0}
SCALING=${SCALING:-0}
if [ "$SCALING" = 1 ]; then CONC=${CONC:-4}; else CONC=${CONC:-32}; fi
DURATION=${DURATION:-15}
KEEP_TMP=${KEEP_TMP:-0}

log() { echo "[instructions] $*" >&2; }
die() { echo "[instructions] error: $*" >&2; exit 1; }

. "$ROOT/bench/lib.sh"
bench_tmp heliport-instr
need_pkg wrk wrk
need_pkg valgrind valgrind
command -v curl >/dev/null || need_pkg curl curl

if [ "$SKIP_BUILD" != 1 ]; then
  log "cargo build --release -p heliport"
  cargo build --release -p heliport --bin heliport >&2
fi
BIN=$ROOT/target/release/heliport
[ -x "$BIN" ] || die "no $BIN"

MOCK_PORT=$(free_port)
"$BIN" mock --listen "127.0.0.1:$MOCK_PORT" >"$TMP/mock.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$MOCK_PORT/__mock/health" mock

BODY='{"model":"gpt-4o","messages":[{"role":"user","content":"Say hello"}]}'
SBODY='{"model":"gpt-4o","messages":[{"role":"user","content":"Say hello"}],"stream":true,"stream_options":{"include_usage":true}}'

# mode body [lua] -> prints "requests total request_threads writer mallocs" per
# request; lua: more lines for wrk's script (headers, a body built in Lua)
measure() {
  local mode=$1 body=$2 extra=${3:-} dir="$TMP/$1" port
  mkdir -p "$dir"
  port=$(free_port)
  export HELIPORT_LISTEN=127.0.0.1:$port
  export HELIPORT_DATABASE_URL=sqlite://$dir/db.sqlite
  export HELIPORT_SPOOL_PATH=$dir/spool
  export HELIPORT_OPENAI_BASE_URL=http://127.0.0.1:$MOCK_PORT
  export HELIPORT_LOG=warn
  local key
  key=$("$BIN" keys create --name instr 2>"$dir/keys.log" | grep -oE 'sk-heliport-[A-Za-z0-9]+' | head -1) \
    || die "heliport keys create failed: $(cat "$dir/keys.log")"
  cat >"$dir/load.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-test"
wrk.headers["Helicone-Auth"] = "Bearer $key"
wrk.body = '$body'
$extra
EOF
  # Fair scheduling: with several threads busy (the writer, the spool),
  # valgrind's default lets one starve the request threads for seconds.
  valgrind --tool=callgrind --fair-sched=yes --callgrind-out-file="$dir/cg.out" "$BIN" serve >"$dir/heliport.log" 2>&1 &
  local vpid=$!
  PIDS+=($vpid)
  wait_http "http://127.0.0.1:$port/healthz" "heliport under callgrind" 600
  local url="http://127.0.0.1:$port/v1/chat/completions"
  wrk -t1 -c"$CONC" -d3s -s "$dir/load.lua" "$url" >/dev/null
  # Counted: the requests of the measured run and every record of theirs
  # written, the spool's included (a writer behind at the end would leave
  # its work out; one behind at the start would count the warm-up's).
  wait_recorded "http://127.0.0.1:$port" 1200 || die "$mode: the warm-up's records were never written"
  callgrind_control -z "$vpid" >/dev/null 2>&1
  wrk -t1 -c"$CONC" -d"${DURATION}s" -s "$dir/load.lua" "$url" >"$dir/wrk.txt"
  wait_recorded "http://127.0.0.1:$port" 1200 || die "$mode: the run's records were never written"
  callgrind_control -d "$vpid" >/dev/null 2>&1
  kill "$vpid" 2>/dev/null || true
  wait "$vpid" 2>/dev/null || true
  local reqs dump
  reqs=$(awk '/requests in/{print $1}' "$dir/wrk.txt")
  [ -n "$reqs" ] && [ "$reqs" -gt 0 ] || die "$mode: wrk completed no request: $(cat "$dir/wrk.txt")"
  grep -qE 'Non-2xx|Socket errors' "$dir/wrk.txt" && die "$mode: errors under load: $(cat "$dir/wrk.txt")"
  dump=$(ls "$dir"/cg.out.* 2>/dev/null | head -1)
  [ -n "$dump" ] || die "$mode: no callgrind dump"
  callgrind_annotate --inclusive=yes --auto=no --threshold=100 "$dump" 2>/dev/null >"$dir/inclusive.txt"
  callgrind_annotate --tree=caller --auto=no --threshold=100 "$dump" 2>/dev/null >"$dir/callers.txt"
  local total req writer mallocs
  total=$(awk '/PROGRAM TOTALS/{gsub(/,/,"",$1); print $1}' "$dir/inclusive.txt")
  # The request threads' frame: named for workers.rs, or, where the compiler
  # inlined that closure, for the tokio runtime each of them runs.
  req=$(awk '/(workers\.rs|current_thread\/mod\.rs):std::sys::backtrace::__rust_begin_short_backtrace/{gsub(/,/,"",$1); print $1; exit}' "$dir/inclusive.txt")
  # The writer's task, whichever frame of its thread the compiler kept.
  writer=$(awk '/writer.rs:heliport_store::writer::Writer<S>::run::\{\{closure\}\} \[/{gsub(/,/,"",$1); print $1; exit}' "$dir/inclusive.txt")
  # Calls into malloc: the call counts of the lines that call it.
  mallocs=$(awk '/\*  .*malloc\.c:malloc \[/{exit} /^ *$/{n=0; next}
    match($0, /\([0-9,]+x\)/) {c=substr($0, RSTART + 1, RLENGTH - 3); gsub(/,/, "", c); n += c}
    END{print n + 0}' "$dir/callers.txt")
  awk -v r="$reqs" -v t="${total:-0}" -v q="${req:-0}" -v w="${writer:-0}" -v m="${mallocs:-0}" \
    'BEGIN{printf "%d %.0f %.0f %.0f %.1f\n", r, t/r, q/r, w/r, m/r}'
}

COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain -- crates Cargo.toml Cargo.lock 2>/dev/null)" ]; then
  COMMIT="$COMMIT (+ uncommitted changes in the work tree)"
fi
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')

if [ "$SCALING" = 1 ]; then
  # How cost grows with the work (issue 7): bench/run.sh's scaling cases,
  # counted instead of timed, so a doubling's ratio does not move with the
  # machine. Each case at two sizes; "per doubling" = the extra instructions
  # over the small request at the larger size / at the smaller (2.0: linear).
  prompt_lua() { # KB: a user message of that many KB of text (one line: a case is one)
    echo "local pad = string.rep(\"lorem ipsum \", math.floor($1 * 1024 / 12));" \
      "wrk.body = '{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"' .. pad .. '\"}]}'"
  }
  props_lua() { echo "for i = 1, $1 do wrk.headers[\"Helicone-Property-P\" .. i] = \"value-\" .. i end"; }
  CASES=("base|small plain request|$BODY|"
    "prompt50|prompt, 50 KB|$BODY|$(prompt_lua 50)"
    "prompt100|prompt, 100 KB|$BODY|$(prompt_lua 100)"
    "answer50k|JSON answer, 50,000 words|$BODY|wrk.headers[\"x-mock-words\"] = \"50000\""
    "answer100k|JSON answer, 100,000 words|$BODY|wrk.headers[\"x-mock-words\"] = \"100000\""
    "events1000|stream, 1,000 events|$SBODY|wrk.headers[\"x-mock-words\"] = \"1000\""
    "events2000|stream, 2,000 events|$SBODY|wrk.headers[\"x-mock-words\"] = \"2000\""
    "props50|properties, 50 headers|$BODY|$(props_lua 50)"
    "props100|properties, 100 headers|$BODY|$(props_lua 100)")
  declare -A TOT RQ WR
  keep=()
  for c in "${CASES[@]}"; do # ONLY: a regex of the cases to run (base always runs)
    [[ $c == base* || ${c%%|*} =~ ${ONLY:-.} ]] && keep+=("$c")
  done
  CASES=("${keep[@]}")
  for c in "${CASES[@]}"; do
    IFS='|' read -r name _ body lua <<<"$c"
    log "$name, c$CONC, ${DURATION}s under callgrind"
    measure "$name" "$body" "$lua" >"$TMP/$name.result"
    read -r _ TOT[$name] RQ[$name] WR[$name] _ <"$TMP/$name.result"
  done
  echo "## heliport instructions a request as the work grows, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "- commit $COMMIT (release build); $CPU"
  echo "- callgrind, wrk -t1 -c$CONC, ${DURATION}s counted after a 3 s warm-up; every request recorded to SQLite"
  echo
  echo "| case | instructions a request | request threads | record writer | extra over the small request | per doubling |"
  echo "|---|---:|---:|---:|---:|---:|"
  prev=0
  for c in "${CASES[@]}"; do
    IFS='|' read -r name label _ _ <<<"$c"
    extra=$((TOT[$name] - TOT[base])) dbl=
    case $name in
      *100|*100k|*2000) dbl=$(awk -v a="$extra" -v b="$prev" 'BEGIN{if (b > 0) printf "%.2f", a / b}') ;;
    esac
    [ "$name" = base ] && extra=
    echo "| $label | ${TOT[$name]} | ${RQ[$name]} | ${WR[$name]} | $extra | $dbl |"
    prev=${extra:-0}
  done
  exit 0
fi

# A stream as a provider sends it: events a little apart, each in a read of
# its own (the mock's other streams come in one burst). At one connection:
# with more, heliport under callgrind falls behind the pacing and reads the
# events in bursts again.
PACED_EVENTS=20
ROWS=("plain|non-streamed|$CONC|$BODY|"
  "stream|streamed|$CONC|$SBODY|"
  "paced|streamed, $PACED_EVENTS words 1 ms apart|1|$SBODY|wrk.headers[\"x-mock-chunk-delay-ms\"] = \"1\"; wrk.headers[\"x-mock-words\"] = \"$PACED_EVENTS\"")
# Run in this shell (not a subshell), so cleanup knows every process.
for row in "${ROWS[@]}"; do # ONLY: a regex of the rows to run (plain, stream, paced)
  IFS='|' read -r name label conc body lua <<<"$row"
  [[ $name =~ ${ONLY:-.} ]] || continue
  log "$label, c$conc, ${DURATION}s under callgrind"
  CONC=$conc measure "$name" "$body" "$lua" >"$TMP/$name.result"
done

echo "## heliport instructions a request, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "- commit $COMMIT (release build); $CPU"
echo "- callgrind, wrk -t1, ${DURATION}s counted after a 3 s warm-up; every request recorded to SQLite"
echo
echo "| request | connections | requests counted | instructions a request | request threads | record writer | calls to malloc |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for row in "${ROWS[@]}"; do
  IFS='|' read -r name label conc _ <<<"$row"
  [ -f "$TMP/$name.result" ] || continue
  read -r reqs tot rq wr mal <"$TMP/$name.result"
  echo "| $label | $conc | $reqs | $tot | $rq | $wr | $mal |"
done
