package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/salespulse/salespulse/internal/testenv"
)

// TestBenchRuns keeps `make bench` working: the harness, built as make
// bench builds it, drains a small canonical and a small vendor preload
// through a pipeline process against its stack process, and reports every
// event stored. It measures nothing; figures come from make bench.
func TestBenchRuns(t *testing.T) {
	testenv.RequireCHDB(t)
	if testing.Short() {
		t.Skip("builds and runs the benchmark harness")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bench")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "out")
	cmd := exec.Command(bin, "--scenarios", "canonical,vendor", "--runs", "1", "--events", "20000", "--teams", "4", "--partitions", "4", "--profiles=false", "--out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bench: %v\n%s", err, b)
	}
	raw, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var runs []struct {
		Scenario string  `json:"scenario"`
		Events   int     `json:"events"`
		PerS     float64 `json:"events_per_s"`
		Inserts  map[string]struct {
			Rows int `json:"rows"`
		} `json:"inserts"`
	}
	if err := json.Unmarshal(raw, &runs); err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 {
		t.Fatalf("%d runs in results.json, want canonical and vendor", len(runs))
	}
	for _, r := range runs {
		// The vendor mix renders some events as several records and skips
		// none, so every scenario stores exactly its preloaded events.
		if got := r.Inserts["interactions"].Rows; got != r.Events || r.Events == 0 || r.PerS <= 0 {
			t.Errorf("%s: %d events preloaded, %d interaction rows stored, %.0f events/s", r.Scenario, r.Events, got, r.PerS)
		}
	}
}
