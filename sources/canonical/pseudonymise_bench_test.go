package canonical_test

import (
	"bufio"
	"bytes"
	"os"
	"testing"

	"github.com/salespulse/salespulse/pipeline/privacy"
	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/canonical"
)

// BenchmarkDecodeValidatePseudonymise is the whole per-event cost before
// the pipeline: decode, normalise and validate (inside Decode), then
// pseudonymise. One op is one typical event.
//
//	go test ./sources/canonical -run '^$' -bench 'Decode' -benchtime=1s -count=5 | tee new.txt
//	benchstat old.txt new.txt
func BenchmarkDecodeValidatePseudonymise(b *testing.B) {
	raw, err := os.ReadFile("testdata/typical.jsonl")
	if err != nil {
		b.Fatal(err)
	}
	var lines [][]byte
	var n int
	for sc := bufio.NewScanner(bytes.NewReader(raw)); sc.Scan(); {
		lines = append(lines, bytes.Clone(sc.Bytes()))
		n += len(sc.Bytes())
	}
	p, err := privacy.New(privacy.Config{Key: privacy.DevKey()})
	if err != nil {
		b.Fatal(err)
	}
	d := canonical.NewDecoder(nil)
	b.SetBytes(int64(n / len(lines)))
	b.ReportAllocs()
	dst := make([]schemas.Interaction, 0, 1)
	k := 0
	for b.Loop() {
		if dst, err = d.Decode(dst[:0], lines[k]); err != nil {
			b.Fatal(err)
		}
		p.Apply(&dst[0])
		if k++; k == len(lines) {
			k = 0
		}
	}
}
