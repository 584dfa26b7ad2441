package canonical

import (
	"bytes"
	"testing"

	"github.com/salespulse/salespulse/schemas"
)

// Run and compare with:
//
//	go test ./sources/canonical -run '^$' -bench 'Decode' -benchtime=1s -count=5 | tee new.txt
//	benchstat old.txt new.txt
//
// Each op decodes one typical canonical event (testdata/typical.jsonl,
// 236–363 bytes), so ns/op is the per-event cost and events/s = 1e9/ns/op.

func BenchmarkDecode(b *testing.B) {
	lines := readLines(b, "typical.jsonl")
	d := NewDecoder(nil)
	var n int
	for _, l := range lines {
		n += len(l)
	}
	b.SetBytes(int64(n / len(lines)))
	b.ReportAllocs()
	dst := make([]schemas.Interaction, 0, 1)
	k := 0
	for b.Loop() {
		var err error
		if dst, err = d.Decode(dst[:0], lines[k]); err != nil {
			b.Fatal(err)
		}
		if k++; k == len(lines) {
			k = 0
		}
	}
}

// BenchmarkDecodeInvalid is the cost of a rejected event: the fast path
// declines it and the reference decoder describes it, so it costs about a
// fast decode plus a reference decode (BenchmarkDecodeReference).
func BenchmarkDecodeInvalid(b *testing.B) {
	lines := readLines(b, "typical.jsonl")
	for k, l := range lines {
		lines[k] = bytes.Replace(l, []byte(`"source":"`), []byte(`"source":7,"s":"`), 1)
	}
	d := NewDecoder(nil)
	b.ReportAllocs()
	dst := make([]schemas.Interaction, 0, 1)
	k := 0
	for b.Loop() {
		var err error
		if dst, err = d.Decode(dst[:0], lines[k]); err == nil {
			b.Fatal("decoded an invalid event")
		}
		if k++; k == len(lines) {
			k = 0
		}
	}
}

// BenchmarkDecodeReference is the tokenizer-based reference decoder alone,
// the path every record the fast path declines takes.
func BenchmarkDecodeReference(b *testing.B) {
	lines := readLines(b, "typical.jsonl")
	d := NewDecoder(nil)
	s := d.pool.Get().(*state)
	b.ReportAllocs()
	dst := make([]schemas.Interaction, 0, 1)
	k := 0
	for b.Loop() {
		var err error
		if dst, err = s.decode(dst[:0], lines[k]); err != nil {
			b.Fatal(err)
		}
		if k++; k == len(lines) {
			k = 0
		}
	}
}
