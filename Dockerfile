# The Kiln service as a small image: `docker build -t kiln .`
#
# Three stages. The planner records the dependency graph (cargo-chef's recipe); the builder
# compiles the dependencies from that recipe alone — a layer Docker keeps until Cargo.lock
# changes, so editing Kiln's own code rebuilds only Kiln — then the service itself. The
# runtime stage is Debian slim with the binary, curl for the health check, and a user
# without privileges. Configuration is by environment variables only (`kiln --help` lists
# them: KILN_ADDR, DATABASE_URL, KILN_REDIS_URL, KILN_JWT_SECRET, KILN_WORKERS, …).

FROM rust:1-bookworm AS chef
RUN cargo install cargo-chef --locked --version 0.1.71
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --bin kiln --recipe-path recipe.json
COPY . .
RUN cargo build --release --bin kiln && cp target/release/kiln /usr/local/bin/kiln

FROM debian:bookworm-slim AS runtime
# Not pinned to versions: the base image's tag pins the Debian release, and its security
# updates should come in with a rebuild.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/kiln --create-home kiln
COPY --from=builder /usr/local/bin/kiln /usr/local/bin/kiln
USER 10001
WORKDIR /var/lib/kiln
ENV KILN_ADDR=0.0.0.0:8080 \
    KILN_DB=/var/lib/kiln/kiln.db \
    RUST_LOG=info
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/readyz"]
ENTRYPOINT ["/usr/local/bin/kiln"]
