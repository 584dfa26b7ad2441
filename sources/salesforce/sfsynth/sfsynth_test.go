package sfsynth

import (
	"strings"
	"testing"
)

// TestSalesforceChecksum uses ids from the fixtures: the 18-character
// suffix must be the one Salesforce computes.
func TestSalesforceChecksum(t *testing.T) {
	for _, id := range []string{"005SM000000146PYAQ", "005ZM000000M6o1YAC"} {
		n := uint64(0)
		for _, c := range id[9:15] {
			n = n*62 + uint64(strings.IndexRune(base62, c))
		}
		if got := ID(id[:3], id[3:5], n); got != id {
			t.Errorf("ID for %s = %s", id, got)
		}
	}
}
