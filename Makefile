# The two commands a fresh machine needs:
#   make dev    SalesPulse on embedded Kafka + ClickHouse with the generator
#   make test   every test suite (what CI runs), installing what it needs
GO ?= go
DEV_FLAGS ?=

.PHONY: dev test build bench bench-hop bench-deadline bench-dashboards bench-peer fuzz lint clean

# The console's chart library (Apache ECharts, pinned npm tarball) is
# embedded at build time. Without it (offline, nothing cached) the build
# goes on and the console shows tables only; scripts/test.sh insists.
build:
	@scripts/fetch-echarts.sh >/dev/null || echo "warning: no echarts.min.js: the console will show tables only" >&2
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

# The lead hop's cost (issue 12): canonical and vendor drains and a live
# run, each with leads.disabled (before) and with the hop (after),
# interleaved over 3 rounds; ~10 minutes on 2 shared cores
# (benchmarks/README.md, "Issue 12: the lead hop").
HOP_FLAGS ?= --scenarios canonical,vendor,live --runs 3 --events 60000 --live-rate 10000 --live-for 10s
bench-hop:
	@scripts/fetch-chdb.sh >/dev/null
	$(GO) run ./benchmarks/cmd/bench --compare-leads --profiles=false --out benchmarks/out/hop $(HOP_FLAGS)

# SLA deadline → webhook received and answer → provisional fact queryable
# (issue 13): 200 leads whose deadlines, then 200 answers, fall over 40 s,
# on an idle stream and under 30k events/s of other traffic; 3 runs each,
# ~12 minutes on 2 cores (benchmarks/README.md, "Issue 13: deadline → hook"
# and "Issue 13: answer → provisional fact").
DEADLINE_FLAGS ?= --runs 3 --live-rate 30000
bench-deadline:
	@scripts/fetch-chdb.sh >/dev/null
	$(GO) run ./benchmarks/cmd/bench --scenarios deadline-idle,deadline-loaded,provisional-idle,provisional-loaded --profiles=false --out benchmarks/out/deadline $(DEADLINE_FLAGS)

# Dashboards at a large customer's scale (issue 17): a year for 1,000 reps
# in 100 teams (36.75M interactions) loaded by SQL, then every panel of
# Sales KBIs timed at 30 and 365 days, all teams and one team; 15-25 minutes
# and ~6 GB of disk on 2 cores (benchmarks/README.md, "Issue 17:
# dashboards"). DASH_FLAGS="--dash-scale 0.1" for a quick look.
DASH_FLAGS ?=
bench-dashboards:
	@scripts/fetch-chdb.sh >/dev/null
	$(GO) run ./benchmarks/cmd/bench --scenarios dashboards --runs 1 --profiles=false --out benchmarks/out/dashboards \
		--dash-before benchmarks/cmd/bench/testdata/sales-kbis-before-issue17.json $(DASH_FLAGS)

# Side by side with housepower/clickhouse_sinker (issue 17): the same 1M
# canonical events drained by the sinker (protocol: http; its defaults and
# bufferSize 16384), SalesPulse ingest-only and SalesPulse default, into
# the same interactions DDL and rollup view, interleaved over 3 rounds;
# ~40 minutes on 2 cores. The sinker is built from its source tarball
# (SINKER_TARBALL, default ../shared/peers/clickhouse_sinker-8091e25.tar.gz)
# and cached by checksum (benchmarks/README.md, "Side by side with
# clickhouse_sinker").
PEER_FLAGS ?= --runs 3 --events 1000000
SINKER_TARBALL ?=
bench-peer:
	@scripts/fetch-chdb.sh >/dev/null
	$(GO) run ./benchmarks/cmd/bench --scenarios peer --out benchmarks/out/peer $(if $(SINKER_TARBALL),--sinker-tarball $(SINKER_TARBALL)) $(PEER_FLAGS)

lint:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)

clean:
	rm -rf bin var
