# Build: a static binary (pure-Go SQLite, no cgo).
FROM golang:1.26.8-alpine AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ottr ./cmd/ottr \
 && mkdir -p /out/data

# Run: no shell, no package manager, a non-root user (65532).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ottr /ottr
# The data directory holds the SQLite file and dev secrets when no
# PostgreSQL is configured.
COPY --from=build --chown=65532:65532 /out/data /data
ENV OTTR_ADDR=:8080 \
    OTTR_DATA_DIR=/data \
    OTTR_LOG_FORMAT=json
USER nonroot:nonroot
EXPOSE 8080
VOLUME ["/data"]
# The image has no curl: the binary checks its own /healthz.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["/ottr", "healthcheck"]
ENTRYPOINT ["/ottr"]
