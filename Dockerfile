# Portcullis image: SQLite in /data by default; set DATABASE_URL=postgres://…
# for PostgreSQL (libpq is built with TLS here, so sslmode=require works).

FROM rust:1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --features postgres-tls

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 portcullis \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin portcullis \
 && install -d -o 10001 -g 10001 -m 0750 /data
COPY --from=build /src/target/release/portcullis /usr/local/bin/portcullis
USER 10001:10001
# The working directory is where a development key is generated when
# DATABASE_URL is PostgreSQL (beside the file for SQLite).
WORKDIR /data
ENV BIND_ADDR=0.0.0.0:8080 \
    DATABASE_URL=sqlite:///data/portcullis.db
EXPOSE 8080
# No HEALTHCHECK: the image has no curl. Probe GET /healthz (liveness) and
# GET /readyz (readiness) from the orchestrator.
ENTRYPOINT ["portcullis"]
CMD ["serve"]
