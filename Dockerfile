# syntax=docker/dockerfile:1.7
#
# One image, two services. The `production` target holds both release binaries
# (weelo-api, weelo-worker), a tiny liveness probe (weelo-healthcheck) and CA
# certificates, on a distroless glibc base, running as a non-root user.
# The image's default command is the API; the worker's ECS task definition runs
# the same image with the command ["/usr/local/bin/weelo-worker"] (see infra/ecs.tf).
# Migrations are embedded in weelo-api (sqlx::migrate!) and run by the deploy
# workflow as a one-off task: ["/usr/local/bin/weelo-api", "migrate"].
#
# Build (BuildKit; both stages are pinned to linux/amd64, the Fargate platform):
#   docker build --target production --platform linux/amd64 -t weelo:dev .
# Run:
#   docker run --rm -p 8080:8080 -e DATABASE_URL=... -e REDIS_URL=... weelo:dev
#   docker run --rm -p 9090:9090 -e DATABASE_URL=... -e REDIS_URL=... weelo:dev /usr/local/bin/weelo-worker

ARG RUST_VERSION=1.95

# ---- builder: compiles the workspace's two binaries and the probe --------------
FROM --platform=linux/amd64 rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /src
# .sqlx/ (checked in) lets the sqlx macros compile without a database.
ENV SQLX_OFFLINE=true \
    CARGO_TERM_COLOR=never \
    CARGO_NET_RETRY=5

# The probe first: it does not depend on the workspace, so this layer stays cached.
COPY infra/docker/healthcheck.rs /src/healthcheck.rs
RUN mkdir -p /out \
 && rustc --edition 2021 -C opt-level=3 -C strip=symbols \
      -o /out/weelo-healthcheck /src/healthcheck.rs

COPY . .
# Cache mounts keep the registry and the target dir between builds on one
# builder; the binaries are copied out of the cached target dir in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p weelo-api -p weelo-worker \
 && cp target/release/weelo-api target/release/weelo-worker /out/

# ---- production: binaries + CA certificates, nothing else ---------------------
# distroless/cc: glibc, libgcc, CA certificates, tzdata, /etc/passwd with the
# `nonroot` user (65532). No shell, no package manager.
FROM --platform=linux/amd64 gcr.io/distroless/cc-debian12:nonroot AS production
COPY --from=builder --chown=0:0 --chmod=0755 \
     /out/weelo-api /out/weelo-worker /out/weelo-healthcheck /usr/local/bin/
ENV WEELO_LOG_FORMAT=json \
    WEELO_HTTP_ADDR=0.0.0.0:8080 \
    WEELO_WORKER_HTTP_ADDR=0.0.0.0:9090
USER 65532:65532
EXPOSE 8080 9090
# Probes /health/live on the api's port, else the worker's (whichever runs here).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/weelo-healthcheck"]
CMD ["/usr/local/bin/weelo-api"]
