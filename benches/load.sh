#!/bin/sh
# Load benchmark: guichet (an authenticated request, memory and Redis stores) against nginx as
# a bare reverse proxy, a bare pingora pass-through and the application direct, driven by wrk
# on loopback in interleaved rounds; then login flows per second and memory per session.
# Prints figures and ratios; never fails because the machine is slow. See benches/README.md.
#
#   benches/load.sh                      # 3 rounds of 8 s per target
#   LOAD_SECONDS=15 LOAD_ROUNDS=5 benches/load.sh
#   LOAD_TARGETS=guichet LOAD_SECONDS=60 benches/load.sh   # one target, e.g. while profiling
set -eu
cd "$(dirname "$0")/.."
export GUICHET_LOAD=1
exec cargo bench --locked --bench load
