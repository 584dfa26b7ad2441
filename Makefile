# The two commands a fresh machine needs:
#   make dev    SalesPulse on embedded Kafka + ClickHouse with the generator
#   make test   every test suite (what CI runs), installing what it needs
GO ?= go
DEV_FLAGS ?=

.PHONY: dev test build bench fuzz lint clean

build:
	$(GO) build -o bin/salespulse ./cmd/salespulse

dev: build
	@scripts/fetch-chdb.sh >/dev/null
	bin/salespulse dev $(DEV_FLAGS)

test:
	scripts/test.sh

# End-to-end throughput and latency on embedded Kafka + ClickHouse, medians
# of 3 runs, ~4 minutes on 2 cores; BENCH_FLAGS="--events 2000000" for
# bigger runs (benchmarks/README.md).
BENCH_FLAGS ?=
bench:
	@scripts/fetch-chdb.sh >/dev/null
	$(GO) run ./benchmarks/cmd/bench $(BENCH_FLAGS)

lint:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)

clean:
	rm -rf bin var
