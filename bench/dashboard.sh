#!/usr/bin/env bash
# heliport dashboard benchmark: every dashboard page at a million recorded
# requests, signed in with a session cookie, while the gateway keeps
# recording. It is bench/rest.sh (build, seed, serve, light traffic, report)
# with the dashboard's client (bench/dashboard_client.py) and without the
# writer benchmark; rest.sh's environment applies (ROWS, DAYS, RUNS,
# TRAFFIC_RPS, PROFILE, SKIP_BUILD, KEEP_TMP).
#
# Usage:
#   bench/dashboard.sh > report.md   # the report to stdout, progress to stderr
#   ROWS=100000 PROFILE=dev bench/dashboard.sh
set -euo pipefail
exec env CLIENT=dashboard_client.py TITLE=Dashboard WRITER=0 "$(dirname "$0")/rest.sh" "$@"
