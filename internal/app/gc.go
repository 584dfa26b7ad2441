package app

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// DefaultGCPercent is the GOGC the salespulse binaries run with when the
// GOGC environment variable is not set.
//
// Why not Go's 100: the pipeline's live heap is mostly batches read ahead
// of the sink (decoded interactions, column buffers), and nearly every byte
// allocated per event dies when its batch is acknowledged. At GOGC=100 the
// collector ran every few batches and took 14–19% of the pipeline's CPU
// (benchmarks/README.md, "Where the time goes"). Doubling the heap target
// halves the number of cycles for the same garbage, at the price of a
// larger peak heap — which is why a memory limit comes with it (below).
// This is the opposite trade from VictoriaMetrics' vmagent, which lowers
// GOGC to 30 because its per-sample garbage is tiny and memory is its
// constraint; ours is CPU per event. Set GOGC (or GOGC=off with GOMEMLIMIT)
// to override.
const DefaultGCPercent = 200

// There is no soft memory limit by default outside a container, on
// purpose. With the read-ahead bounded (kafka.read_ahead_bytes), 0.9-1.2
// GB lives at the peak of a 1M-event drain: the read-ahead, up to two
// grouped ClickHouse inserts in flight and the stages' state
// (benchmarks/README.md, "Memory"). A default limit under that makes
// the collector run all the time: 1 GiB
// cut the drain's peak RSS from 3.2 GB to 1.1 GB but took 1.6-2× the
// pipeline CPU per event, 448 MiB 3×. Operators who prefer memory to CPU
// set GOMEMLIMIT (docs/configuration.md, "Memory").

// cgroupMemoryMax is cgroup v2's memory limit of this process's cgroup
// ("max" when unlimited).
var cgroupMemoryMax = "/sys/fs/cgroup/memory.max"

// SetGCDefaults applies DefaultGCPercent unless GOGC is set and, unless
// GOMEMLIMIT is set, a soft memory limit of 90% of the container's cgroup
// memory limit, if it has one. The limit makes the collector run earlier
// as the heap approaches it, so the higher GOGC trades CPU for memory only
// while memory is plentiful instead of getting the container OOM-killed.
// Call it once at the start of main, before the pipeline allocates.
// getenv is os.Getenv outside tests. It returns the GOGC in effect and
// the memory limit (math.MaxInt64: none), for the startup log.
func SetGCDefaults(getenv func(string) string) (gogc string, memLimit int64) {
	gogc = getenv("GOGC")
	if gogc == "" {
		debug.SetGCPercent(DefaultGCPercent)
		gogc = strconv.Itoa(DefaultGCPercent)
	}
	if getenv("GOMEMLIMIT") == "" {
		if b, err := os.ReadFile(cgroupMemoryMax); err == nil {
			if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 {
				debug.SetMemoryLimit(n / 10 * 9)
			}
		}
	}
	return gogc, debug.SetMemoryLimit(-1) // a negative input only reads it
}
