# syntax=docker/dockerfile:1
#
# MyAccount in a container: a multi-stage build (the Go toolchain and gcc for SQLite's cgo
# in the builder; only the binary in a small distroless runtime without a shell), running as
# a non-root user with its state in a volume.
#
#   docker build -t myaccount .
#   docker run -p 8080:8080 -v myaccount-data:/var/lib/myaccount \
#       -e MYACCOUNT_ISSUER=http://localhost:8080 myaccount
#
# Configuration comes from MYACCOUNT_* variables (see config.example.yaml), or mount a file and
# pass "serve --config /etc/myaccount/config.yaml". deploy/compose.yaml adds PostgreSQL and an
# SMTP catcher. deploy/deploy_test.go checks this file and builds the binary the same way.

# The builder's Debian release must match the runtime's (bookworm = distroless debian12): the
# binary links the C library dynamically (cgo).
ARG GO_IMAGE=golang:1.26-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/base-debian12:nonroot

FROM ${GO_IMAGE} AS build
WORKDIR /src
# Modules first: a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Release builds pass --build-arg VERSION=v1.2.3 (myaccount version prints it).
ARG VERSION=""
ENV CGO_ENABLED=1
RUN go build -ldflags "-s -w -X main.version=${VERSION}" -o /out/myaccount ./cmd/myaccount
# The data directory, owned by the runtime's non-root user (65532) so that a new named volume
# is created writable for it.
RUN mkdir -p /out/data && chown 65532:65532 /out/data && chmod 0700 /out/data

FROM ${RUNTIME_IMAGE}
COPY --from=build /out/myaccount /usr/local/bin/myaccount
COPY --from=build --chown=65532:65532 /out/data /var/lib/myaccount
ENV MYACCOUNT_DATA_DIR=/var/lib/myaccount \
    MYACCOUNT_LISTEN=:8080 \
    MYACCOUNT_LOG_FORMAT=json
# SQLite database and the generated master key (back both up), unless MYACCOUNT_DATABASE_URL
# points at PostgreSQL and MYACCOUNT_MASTER_KEY(_FILE) is given.
VOLUME ["/var/lib/myaccount"]
# 8080: the public listener; 9090: /metrics when MYACCOUNT_METRICS_LISTEN=:9090 (keep it off
# the public network).
EXPOSE 8080 9090
USER 65532:65532
# The image has no shell or curl: the binary probes its own /readyz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/myaccount", "healthcheck", "--quiet"]
# SIGTERM drains in-flight requests for up to 20 s: stop with "docker stop --time 30".
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/myaccount"]
CMD ["serve"]
