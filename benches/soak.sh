#!/bin/sh
# Soak test: the release guichet in front of the demo stack, on loopback, driven by simulated
# citizens (login, pages, logout) for a bounded time; prints requests, errors and guichet's RSS
# every SOAK_SAMPLE_SECONDS and exits non-zero on any error or on RSS growing more than
# SOAK_MAX_RSS_GROWTH times after warm-up. See benches/soak.rs and benches/README.md.
#
#   benches/soak.sh            # 5 minutes
#   benches/soak.sh 120        # 2 minutes
#   SOAK_CONCURRENCY=32 benches/soak.sh 60
set -eu
cd "$(dirname "$0")/.."
SOAK_SECONDS="${1:-${SOAK_SECONDS:-300}}"
export SOAK_SECONDS GUICHET_SOAK=1
exec cargo bench --locked --bench soak
