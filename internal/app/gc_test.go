package app

import (
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
)

func TestSetGCDefaults(t *testing.T) {
	oldPercent := debug.SetGCPercent(100)
	oldLimit := debug.SetMemoryLimit(math.MaxInt64)
	oldFile := cgroupMemoryMax
	t.Cleanup(func() {
		debug.SetGCPercent(oldPercent)
		debug.SetMemoryLimit(oldLimit)
		cgroupMemoryMax = oldFile
	})
	dir := t.TempDir()
	f := func(name string, env map[string]string, cgroup string, wantGOGC string, wantPercent int, wantLimit int64) {
		t.Helper()
		debug.SetGCPercent(100)
		debug.SetMemoryLimit(math.MaxInt64)
		cgroupMemoryMax = filepath.Join(dir, name)
		if cgroup != "" {
			if err := os.WriteFile(cgroupMemoryMax, []byte(cgroup), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		gogc, limit := SetGCDefaults(func(k string) string { return env[k] })
		if percent := debug.SetGCPercent(100); gogc != wantGOGC || percent != wantPercent || limit != wantLimit {
			t.Errorf("%s: got GOGC %q (percent %d), limit %d; want %q (%d), %d", name, gogc, percent, limit, wantGOGC, wantPercent, wantLimit)
		}
	}
	f("nothing set, no cgroup limit", nil, "", "200", DefaultGCPercent, math.MaxInt64)
	f("unlimited cgroup", nil, "max\n", "200", DefaultGCPercent, math.MaxInt64)
	f("cgroup limit", nil, "1000000000\n", "200", DefaultGCPercent, 900000000)
	// The runtime itself applies GOGC/GOMEMLIMIT from the environment at
	// start; SetGCDefaults must leave them alone (here: 100 and no limit).
	f("GOGC set", map[string]string{"GOGC": "50"}, "", "50", 100, math.MaxInt64)
	f("GOMEMLIMIT set", map[string]string{"GOMEMLIMIT": "1GiB"}, "1000000000\n", "200", DefaultGCPercent, math.MaxInt64)
}
