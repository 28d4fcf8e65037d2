# syntax=docker/dockerfile:1
# Portcullis image: SQLite in /data by default; set DATABASE_URL=postgres://…
# for PostgreSQL (libpq is built with TLS here, so sslmode=require works).
# scripts/container-check builds this file unchanged with buildah and starts
# the binary in it on SQLite and PostgreSQL (docs/container.md).

FROM rust:1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The registry and the build directory are cache mounts: a rebuild after a
# source change compiles Portcullis, not its 400 dependencies. Cache mounts are
# not part of the layer, so the binary is copied out of one. Symbols are
# stripped (8 MB; a panic's message still names its file and line).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    CARGO_PROFILE_RELEASE_STRIP=symbols \
    cargo build --release --locked --features postgres-tls \
 && install -m 0755 target/release/portcullis /usr/local/bin/portcullis

FROM debian:bookworm-slim
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="Portcullis" \
      org.opencontainers.image.description="JSON REST authentication service and OpenID Provider: JWT access tokens, rotating refresh tokens, JWKS, admin API" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim"
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 portcullis \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin portcullis \
 && install -d -o 10001 -g 10001 -m 0750 /data
COPY --from=build /usr/local/bin/portcullis /usr/local/bin/portcullis
USER 10001:10001
# The working directory is where a development key is generated when
# DATABASE_URL is PostgreSQL (beside the file for SQLite).
WORKDIR /data
ENV BIND_ADDR=0.0.0.0:8080 \
    DATABASE_URL=sqlite:///data/portcullis.db
EXPOSE 8080
# Liveness: the binary asks its own listener (BIND_ADDR) for GET /healthz.
# Orchestrators should also probe GET /readyz for readiness.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["portcullis", "healthcheck", "--timeout", "3"]
ENTRYPOINT ["portcullis"]
CMD ["serve"]
