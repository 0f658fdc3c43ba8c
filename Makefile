# guichet: the two commands of the README's quick start, and a few more.
#   make demo    install what is missing, build, and run `guichet demo`
#   make test    install what is missing, then fmt, clippy and every test
CARGO ?= cargo
PORT ?= 8080

.PHONY: deps demo test lint build release bench e2e clean

deps:
	@scripts/deps.sh

demo: deps
	$(CARGO) build --release --locked
	./target/release/guichet demo --port $(PORT)

test: deps lint
	$(CARGO) test --locked

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

build: deps
	$(CARGO) build --locked

release: deps
	$(CARGO) build --release --locked

clean:
	$(CARGO) clean
