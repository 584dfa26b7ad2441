package jsonscan

import (
	"encoding/binary"
	"math/bits"
	"testing"
)

// TestStringStop compares the word-at-a-time scan with the byte loop it
// replaces, on words made of the interesting bytes and their neighbours.
func TestStringStop(t *testing.T) {
	alphabet := []byte{0, 0x1f, 0x20, '!', '"', '#', '[', '\\', ']', 0x7e, 0x7f, 0x80, 0xc3, 0xff, 'a'}
	var w [8]byte
	for n := range 200000 {
		x := uint64(n) * 0x9E3779B97F4A7C15
		for k := range w {
			w[k] = alphabet[(x>>(k*7))%uint64(len(alphabet))]
		}
		want := 8
		for k, c := range w {
			if c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
				want = k
				break
			}
		}
		got := 8
		if m := stringStop(binary.LittleEndian.Uint64(w[:])); m != 0 {
			got = bits.TrailingZeros64(m) >> 3
		}
		if got != want {
			t.Fatalf("% x: first stop at %d, want %d", w, got, want)
		}
	}
}
