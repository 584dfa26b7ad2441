// Package testenv holds the gates shared by test suites that need real
// services: a suite either finds its service or, when CI says it must be
// there, fails loudly instead of skipping (as ch-go's e2e suite does).
package testenv

import (
	"os"
	"strings"
	"testing"

	"github.com/salespulse/salespulse/embedded/chdb"
)

// EnvEmbedded set to 1/true makes a missing libchdb.so fatal (CI sets it).
const EnvEmbedded = "SALESPULSE_EMBEDDED_TESTS"

// Required reports whether env var name says the service must be present.
func Required(name string) bool {
	switch strings.ToLower(os.Getenv(name)) {
	case "1", "true", "yes":
		return true
	}
	return false
}

// RequireCHDB skips tb when libchdb.so is missing, or fails it when
// SALESPULSE_EMBEDDED_TESTS is 1/true.
func RequireCHDB(tb testing.TB) {
	tb.Helper()
	p := chdb.ResolveLibPath("")
	if _, err := os.Stat(p); err == nil {
		return
	}
	if Required(EnvEmbedded) {
		tb.Fatalf("%s is set but libchdb.so is missing at %s: run scripts/fetch-chdb.sh or set %s", EnvEmbedded, p, chdb.EnvLibPath)
	}
	tb.Skipf("libchdb.so not found at %s: run scripts/fetch-chdb.sh (%s=1 makes this fatal)", p, EnvEmbedded)
}
