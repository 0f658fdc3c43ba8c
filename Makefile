# guichet: the two commands of the README's quick start, and a few more.
#   make demo    install what is missing, build, and run `guichet demo`
#   make test    install what is missing (Debian packages, the tests' pinned npm packages), then
#                fmt, clippy and every test (the certified OpenID provider, the real-browser test
#                and the chart included)
#   make chart-test  the Helm chart, with real Helm (see tests/chart/check_chart.py)
#   make browser-test  the real-browser test alone (headless Chromium, axe-core); screenshots
#                of every page land in e2e-screenshots/ (make e2e: the same)
#   make fuzz    the property tests of tests/fuzz.rs with 200000 cases each (release)
#   make bench   load benchmark against nginx, a bare pingora pass-through and Apache +
#                mod_auth_openidc (installs them, wrk and perf), login flows, micro-benchmarks,
#                memory of BENCH_SESSIONS (1000000) sessions; figures only
#   make soak    5 minutes of logins, pages and logouts against a release build (SOAK_SECONDS=120)
CARGO ?= cargo
PORT ?= 8080
SOAK_SECONDS ?= 300
FUZZ_CASES ?= 200000
BENCH_SESSIONS ?= 1000000

.PHONY: deps test-deps demo test lint build release bench e2e browser-test clean chart-test fuzz soak

deps:
	@scripts/deps.sh

test-deps:
	@scripts/deps.sh test

demo: deps
	$(CARGO) build --release --locked
	./target/release/guichet demo --port $(PORT)

test: test-deps lint
	$(CARGO) test --locked
	@$(MAKE) --no-print-directory browser-test
	@$(MAKE) --no-print-directory chart-test

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

# The real-browser test (tests/browser.rs): `#[ignore]`d under a plain `cargo test`, which a
# machine without Chromium must pass; here it runs, with Chromium and chromedriver from
# Debian and axe-core from npm (tests/browser/package-lock.json), both installed by
# scripts/deps.sh test.
browser-test: test-deps
	$(CARGO) test --locked --test browser -- --ignored --nocapture
	@echo "screenshots: $(CURDIR)/e2e-screenshots/"

e2e: browser-test

fuzz: test-deps
	PROPTEST_CASES=$(FUZZ_CASES) $(CARGO) test --release --locked --test fuzz

# Figures, never pass/fail: the load run (benches/load.sh), the hot-path micro-benchmarks
# (criterion), then the memory of BENCH_SESSIONS live sessions.
bench:
	@scripts/deps.sh bench
	benches/load.sh
	$(CARGO) bench --locked --bench hot_path --bench assertion --bench id_token -- --noplot
	MEMORY_SESSIONS=$(BENCH_SESSIONS) $(CARGO) bench --locked --bench memory

soak: test-deps
	benches/soak.sh $(SOAK_SECONDS)

build: deps
	$(CARGO) build --locked

release: deps
	$(CARGO) build --release --locked

# Real Helm (Helm's Go library, helm-sdkpy on PyPI; it declares Python >= 3.12 but runs on 3.11)
# and the Kubernetes schemas, in a virtualenv under target/. The stamp names the versions, so
# changing them reinstalls.
HELM_VENV ?= target/helm-venv
HELM_PY_PACKAGES = helm-sdkpy==0.1.32 kubernetes-validate==1.37.0 PyYAML==6.0.3
HELM_VENV_STAMP = $(HELM_VENV)/.installed-$(subst ==,-,$(subst $() ,+,$(HELM_PY_PACKAGES)))

$(HELM_VENV_STAMP):
	rm -rf $(HELM_VENV)
	python3 -m venv $(HELM_VENV)
	$(HELM_VENV)/bin/pip install --quiet --disable-pip-version-check --ignore-requires-python $(HELM_PY_PACKAGES)
	touch $@

# The guichet binary as `cargo test` builds it (same features: no rebuild after `cargo test`).
chart-test: test-deps $(HELM_VENV_STAMP)
	$(CARGO) test --locked --no-run --quiet --test deploy
	$(HELM_VENV)/bin/python tests/chart/check_chart.py --guichet target/debug/guichet

clean:
	$(CARGO) clean
