# syntax=docker/dockerfile:1
# The guichet image the Helm chart (helm/guichet) runs. From the repository root:
#   docker build -t REGISTRY/guichet:0.1.0 .
# Two stages: a Debian 12 Rust toolchain builds the release binary; the runtime image is
# distroless (Debian 12 glibc, libgcc and OpenSSL 3, which josekit links; no shell, no package
# manager) and runs as the unprivileged user 65532.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS build
# cmake + make: libz-ng-sys (pingora) builds zlib-ng; pkg-config + libssl-dev: openssl-sys
# (josekit); gcc: ring, zstd-sys.
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake make gcc libc6-dev pkg-config libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only these reach the build (.dockerignore lists the same); benches/ because Cargo.toml
# declares the bench targets; vendor/ for the patched pingora-proxy ([patch.crates-io]).
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
COPY vendor ./vendor
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin guichet \
 && cp target/release/guichet /usr/local/bin/guichet

# Debian 12 like the build stage, so the glibc and libssl3 the binary was linked against.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /usr/local/bin/guichet /usr/local/bin/guichet
USER 65532:65532
# 8080: [server] listen; 9090: [metrics] listen (the chart's defaults).
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/guichet"]
CMD ["run", "--config", "/etc/guichet/guichet.toml"]
