# The relay in a small image: built with the Rust toolchain, run on Debian
# slim as a non-root user.
#
#   docker build -t relay:local .
#   docker run --rm -p 8080:8080 -p 9090:9090 -e RELAY_KEYS=... -e OPENAI_API_KEY=... relay:local
#
# The shipped routes are baked in at /etc/relay/routes.d; mount a directory
# over it (a volume, or a Kubernetes ConfigMap) to serve others. The relay
# watches that directory and reloads on changes. /etc/relay/schemas is where
# the routes' JSON schemas are looked up (empty unless you mount some).
#
# The image also holds `mock-upstream` (examples/mock_upstream), a fake
# OpenAI API for trying the relay without a key (see deploy/compose.yaml).

ARG RUST_VERSION=1.95
ARG DEBIAN=bookworm

FROM rust:${RUST_VERSION}-slim-${DEBIAN} AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY examples ./examples
RUN cargo build --release --locked --bin relay --example mock_upstream \
 && cp target/release/relay target/release/examples/mock_upstream /usr/local/bin/

FROM debian:${DEBIAN}-slim
RUN useradd --system --uid 10001 --user-group --home-dir /nonexistent --shell /usr/sbin/nologin relay
COPY --from=build /usr/local/bin/relay /usr/local/bin/relay
COPY --from=build /usr/local/bin/mock_upstream /usr/local/bin/mock-upstream
COPY routes.d /etc/relay/routes.d
RUN mkdir -p /etc/relay/schemas
# Non-loopback addresses: the relay refuses to start without RELAY_KEYS
# (or --allow-open), so an image run without keys cannot be an open proxy.
ENV RELAY_ROUTES=/etc/relay/routes.d \
    RELAY_LISTEN=0.0.0.0:8080 \
    RELAY_ADMIN_LISTEN=0.0.0.0:9090
USER 10001:10001
EXPOSE 8080 9090
# SIGTERM drains: /ready turns 503, requests in flight finish within
# --drain-timeout (default 5m), a second SIGTERM stops at once.
STOPSIGNAL SIGTERM
ENTRYPOINT ["relay"]
CMD ["serve"]
