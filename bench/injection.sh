#!/usr/bin/env bash
# Prompt-injection screening latency (issue 8's goal: a normal prompt of a few
# KB screens in well under a millisecond; a 1 MB prompt costs about as much as
# the 256 KiB that are screened of it).
#
# Usage: bench/injection.sh
# Runs heliport-core's ignored timing test in a release build; prints the time
# per screen() of a 29-byte and a ~3 KB prompt (mean of 2000 calls) and one
# call each on 64 KiB, 1 MiB and 8 MiB documents. No network, no servers.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release -q -p heliport-core --lib injection::tests::timing -- --ignored --nocapture 2>&1 \
  | grep -E '^screen:'
