#!/usr/bin/env bash
# Installs what building, testing and benchmarking guichet need on a Debian machine, only what
# is missing.
#   scripts/deps.sh          building (and `guichet demo`): the toolchain's C needs
#   scripts/deps.sh test     also what the tests run: redis-server, Chromium and chromedriver,
#                            Node.js and the tests' pinned npm packages (tests/oidc-provider:
#                            the certified OpenID provider; tests/browser: axe-core)
#   scripts/deps.sh bench    the test set, plus nginx, wrk, Apache 2.4 + mod_auth_openidc and
#                            perf (load benchmarks: Apache + mod_auth_openidc is one of the targets)
# Needs root or sudo for apt-get; runs `apt-get update` at most once.
set -euo pipefail

mode="${1:-build}"
root="$(cd "$(dirname "$0")/.." && pwd)"

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
need_file /usr/include/stdio.h libc6-dev  # gcc only recommends it; linking needs it (crt1.o, libc)
need_file /usr/include/openssl/ssl.h libssl-dev
if [ "$mode" = "test" ] || [ "$mode" = "bench" ]; then
  need curl curl
  need redis-server redis-server       # the Redis session store tests start a real server
  need redis-sentinel redis-sentinel   # ... and three sentinels for the failover tests
  need openssl openssl                 # ... and make its TLS certificates
  need python3 python3                 # the Helm chart checks (make chart-test) run real Helm;
                                       # tests/common/lenient_upstream.py (http.server)
  need unshare util-linux              # tests/upstream_dns.rs: guichet with its own /etc/hosts
  need mount mount                     # ... bind-mounted in a mount namespace
  need mkfifo coreutils                # tests/evidence_log.rs: an evidence log nobody reads
  python3 -c 'import ensurepip, venv' 2>/dev/null || want+=(python3-venv)  # ... from a venv
  need chromium chromium               # the real-browser test (tests/browser.rs) drives it
  need chromedriver chromium-driver    # ... through chromedriver
  need node nodejs                     # the certified OpenID provider the tests run
  need npm npm                         # ... and axe-core, from their pinned package-lock.json
fi
if [ "$mode" = "bench" ]; then
  need nginx nginx-light
  need wrk wrk
  need apache2 apache2
  need_file /usr/lib/apache2/modules/mod_auth_openidc.so libapache2-mod-auth-openidc
  need perf linux-perf                 # profiles of guichet under load (benches/README.md)
fi

if [ ${#want[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "deps: installing ${want[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
fi

# The tests' npm packages: exactly the versions of each folder's package-lock.json, installed
# again whenever that file changes.
if [ "$mode" = "test" ] || [ "$mode" = "bench" ]; then
  for dir in "$root/tests/oidc-provider" "$root/tests/browser"; do
    if ! cmp -s "$dir/package-lock.json" "$dir/node_modules/.guichet-package-lock.json"; then
      echo "deps: npm ci in ${dir#"$root"/}"
      (cd "$dir" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
      cp "$dir/package-lock.json" "$dir/node_modules/.guichet-package-lock.json"
    fi
  done
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
