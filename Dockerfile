# vigie's image for docker-compose.yml: built with the workspace's locked
# dependencies, run on a slim Debian with wget for the healthchecks.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin vigie

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates wget && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/vigie /usr/local/bin/vigie
EXPOSE 8080
CMD ["vigie", "run", "--config", "/etc/vigie/vigie.toml"]
