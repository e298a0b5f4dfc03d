# Helpers the bench scripts share; source after defining log and die.

need_pkg() { # command package: installs Debian's package when the command is missing
  if ! command -v "$1" >/dev/null 2>&1; then
    log "installing $2"
    [ "$(id -u)" = 0 ] || die "$1 missing and not root: apt-get install $2"
    if ! apt-get install -y -qq "$2" >&2; then
      apt-get update -qq >&2 && apt-get install -y -qq "$2" >&2
    fi
  fi
}

free_port() { # prints a port nothing listens on
  local p
  while :; do
    p=$((20000 + RANDOM % 30000))
    if ! ss -Htan | awk '{print $4}' | grep -q ":$p\$"; then echo "$p"; return; fi
  done
}

wait_http() { # url what [tries]: waits up to tries × 0.1 s (default 30 s) for a 2xx
  for _ in $(seq 1 "${3:-300}"); do
    curl -sf -o /dev/null "$1" && return 0
    sleep 0.1
  done
  die "$2 did not come up ($1)"
}

bench_tmp() { # name: makes $TMP (/tmp/name.XXXXXX) and an empty PIDS; on exit
  # every pid in PIDS is stopped (TERM, KILL after 5 s: heliport flushes its
  # writer on TERM) and $TMP removed unless KEEP_TMP=1. Call in the script's
  # own shell, not a subshell.
  PIDS=()
  TMP=$(mktemp -d "/tmp/$1.XXXXXX")
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

bench_cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ "${KEEP_TMP:-0}" = 1 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
  exit "$rc"
}

wait_recorded() { # base URL [tries]: waits (tries × 0.5 s, default 240) until heliport's
  # record queue is empty and its spool written back, seen twice in a row (a
  # record on its way to the spool shows in neither for a moment); sets
  # RECORDED_AT (date +%s.%N) to the first of the two
  local calm=0 m q s
  for _ in $(seq 1 "${2:-240}"); do
    m=$(curl -s "$1/metrics")
    q=$(awk '$1=="heliport_record_queue_bytes"{printf "%d", $2}' <<<"$m")
    s=$(awk '$1=="heliport_spool_pending"{printf "%d", $2}' <<<"$m")
    if [ "${q:-0}" -le 0 ] && [ "${s:-0}" -le 0 ]; then
      calm=$((calm + 1))
      [ "$calm" = 1 ] && RECORDED_AT=$(date +%s.%N)
      [ "$calm" -ge 2 ] && return 0
    else
      calm=0
    fi
    sleep 0.5
  done
  return 1
}
