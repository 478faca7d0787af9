# syntax=docker/dockerfile:1.7
#
# One multi-stage build for the whole workspace, one runtime target per service:
#
#   docker build --target checkout            -t payments/checkout .
#   docker build --target webhook-ingest      -t payments/webhook-ingest .
#   docker build --target subscription-worker -t payments/subscription-worker .
#   docker build --target event-dispatcher    -t payments/event-dispatcher .
#   docker build --target cryptocloud-sandbox -t payments/cryptocloud-sandbox .
#
# The five targets share the `builder` stage, so BuildKit compiles the workspace once.
# Dependencies are compiled in their own layer (cargo-chef) and stay cached until
# Cargo.lock or a Cargo.toml changes.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS chef
ARG CARGO_CHEF_VERSION=0.1.78
RUN cargo install cargo-chef --locked --version "${CARGO_CHEF_VERSION}"
WORKDIR /app
# sqlx's query macros read the committed .sqlx/ data instead of a live database.
ENV SQLX_OFFLINE=true \
    CARGO_TERM_COLOR=never

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /app/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json
COPY . .
# config/ is optional at run time (TOML defaults); create it so the COPY below never fails.
RUN cargo build --release --locked \
        --bin checkout \
        --bin webhook-ingest \
        --bin subscription-worker \
        --bin event-dispatcher \
        --bin cryptocloud-sandbox \
    && mkdir -p config

# glibc + libgcc + CA certificates, no shell, no package manager; uid/gid 65532 ("nonroot").
# Migrations are embedded in the binaries (sqlx::migrate!), so only config/ is copied.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
WORKDIR /app
COPY --from=builder /app/config /app/config
ENV LOG_FORMAT=json
USER 65532:65532

FROM runtime AS checkout
COPY --from=builder /app/target/release/checkout /usr/local/bin/checkout
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/checkout"]

FROM runtime AS webhook-ingest
COPY --from=builder /app/target/release/webhook-ingest /usr/local/bin/webhook-ingest
EXPOSE 8081
ENTRYPOINT ["/usr/local/bin/webhook-ingest"]

# Also the migration Job's image: `subscription-worker migrate`.
FROM runtime AS subscription-worker
COPY --from=builder /app/target/release/subscription-worker /usr/local/bin/subscription-worker
EXPOSE 8082
ENTRYPOINT ["/usr/local/bin/subscription-worker"]

# Merchant webhooks; the admin API, health and metrics on 8083.
FROM runtime AS event-dispatcher
COPY --from=builder /app/target/release/event-dispatcher /usr/local/bin/event-dispatcher
EXPOSE 8083
ENTRYPOINT ["/usr/local/bin/event-dispatcher"]

FROM runtime AS cryptocloud-sandbox
COPY --from=builder /app/target/release/cryptocloud-sandbox /usr/local/bin/cryptocloud-sandbox
EXPOSE 8088
ENTRYPOINT ["/usr/local/bin/cryptocloud-sandbox"]
