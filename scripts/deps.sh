#!/usr/bin/env bash
# Installs what building and testing guichet needs on a Debian machine, only when missing.
#   scripts/deps.sh            build + test dependencies
#   scripts/deps.sh bench      also nginx, wrk, Apache 2.4 + mod_auth_openidc and perf (load
#                              benchmarks: Apache + mod_auth_openidc is one of the targets)
#   scripts/deps.sh e2e        also chromium and chromium-driver (the real-browser test)
# Needs root or sudo for apt-get; runs `apt-get update` at most once.
set -euo pipefail

want=()
need() { # need COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 || want+=("$2")
}
need_file() { # need_file PATH PACKAGE
  [ -e "$1" ] || want+=("$2")
}

need cmake cmake                       # libz-ng-sys (pulled by pingora) builds zlib-ng with cmake
need pkg-config pkg-config             # openssl-sys (josekit) finds OpenSSL with it
need cc gcc
need_file /usr/include/openssl/ssl.h libssl-dev
need curl curl
need redis-server redis-server         # the Redis session store tests start a real server
need openssl openssl                   # ... and make its TLS certificates
need python3 python3                   # the Helm chart checks (make chart-test) run real Helm
python3 -c 'import ensurepip, venv' 2>/dev/null || want+=(python3-venv)  # ... from a venv
if [ "${1:-}" = "bench" ]; then
  need nginx nginx-light
  need wrk wrk
  need apache2 apache2
  need_file /usr/lib/apache2/modules/mod_auth_openidc.so libapache2-mod-auth-openidc
  need perf linux-perf                 # profiles of guichet under load (benches/README.md)
fi
if [ "${1:-}" = "e2e" ]; then
  need chromium chromium
  need chromedriver chromium-driver
fi

if [ ${#want[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "deps: installing ${want[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "deps: cargo not found; install the Rust toolchain (https://rustup.rs) first" >&2
  exit 1
fi
if command -v rustup >/dev/null 2>&1; then
  for c in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$c" || rustup component add "$c"
  done
fi
