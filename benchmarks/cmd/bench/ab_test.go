package main

import (
	"strings"
	"testing"
)

// TestABProvisionalFigures: an --ab of the provisional scenarios compares
// the answer → provisional latencies (what those scenarios measure), not
// the CPU per event an idle run has none of.
func TestABProvisionalFigures(t *testing.T) {
	run := func(sc, side string, n int, p50, p99 float64) result {
		return result{Scenario: sc, Side: side, Run: n, ProvP50: p50, ProvP99: p99}
	}
	all := []result{
		run("provisional-touch-idle", "before", 1, 9.5, 70), run("provisional-touch-idle", "after", 1, 3.25, 63),
		run("provisional-touch-idle", "after", 2, 3.3, 62), run("provisional-touch-idle", "before", 2, 9.4, 69),
	}
	var b strings.Builder
	printAB(&b, all, config{runs: 2, abBin: "/tmp/old"})
	out := b.String()
	for _, want := range []string{"p50 answer → provisional", "9.45 s (9.40 s–9.50 s)", "3.27 s (3.25 s–3.30 s)", "0.35 (0.34–0.35)", "2 of 2"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "CPU-s/M") {
		t.Errorf("an idle provisional run has no CPU per event:\n%s", out)
	}
}
