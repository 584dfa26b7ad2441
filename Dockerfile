# SalesPulse production image: one static binary on distroless, non-root.
#
#   docker build -t salespulse:dev .
#   docker run --rm salespulse:dev config example
#
# The embedded ClickHouse engine (libchdb.so, ~560 MB) is NOT in this image:
# `salespulse dev` is for laptops and tests; production runs `salespulse
# run` against real Kafka and ClickHouse (deploy/compose.yaml, deploy/k8s).

# --- build ------------------------------------------------------------------
FROM golang:1.26.8-bookworm AS build
WORKDIR /src
# Modules first, so a source change does not refetch them.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# CGO_ENABLED=0: a static binary that runs on distroless/static (chDB is
# loaded with purego only by `salespulse dev`, never by `run`).
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w" -o /out/salespulse ./cmd/salespulse

# --- run --------------------------------------------------------------------
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/salespulse /usr/local/bin/salespulse
# 65532 is distroless's "nonroot"; numeric so Kubernetes runAsNonRoot can
# verify it without /etc/passwd.
USER 65532:65532
# /metrics, /healthz, /readyz (http.addr must listen on 0.0.0.0:8080 in a
# container; the config in deploy/ does).
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/salespulse"]
CMD ["run", "--config", "/etc/salespulse/salespulse.yml"]
