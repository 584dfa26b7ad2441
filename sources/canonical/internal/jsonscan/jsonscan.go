// Package jsonscan holds the canonical decoder's fast path's JSON syntax
// scanning: white space, literals, numbers, strings and skipping whole
// values, on a byte slice with an index, without building tokens. It knows
// nothing of the event schema; sources/canonical's fast.go does the fields.
//
// Every function takes the input and the index of where to start, and
// returns the index just past what it read; ok false means "not valid
// here", with nothing built and no error: the caller declines the record
// and the reference decoder says what is wrong.
package jsonscan

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf8"

	"github.com/segmentio/encoding/json"
)

// MaxDepth bounds the recursion of Skip; deeper unknown values go to
// the reference decoder, whose skipping is iterative.
const MaxDepth = 32

// SkipWS returns the index of the first non-white-space byte at or after i.
// Compact JSON has none, so the first test usually decides.
func SkipWS(in []byte, i int) int {
	if i < len(in) && in[i] > ' ' {
		return i
	}
	return skipWSLoop(in, i)
}

func skipWSLoop(in []byte, i int) int {
	for ; i < len(in); i++ {
		switch in[i] {
		case ' ', '\t', '\n', '\r':
		default:
			return i
		}
	}
	return i
}

// Null reports whether in[i:] starts with the literal null.
func Null(in []byte, i int) (int, bool) {
	if len(in)-i >= 4 && string(in[i:i+4]) == "null" {
		return i + 4, true
	}
	return i, false
}

// Pow10[k] is 10^k, exactly, up to the largest power of ten a float64
// holds exactly: the divisors of Clinger's fast path for exact Numbers.
var Pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// Number is a JSON number scanned by ScanNumber.
type Number struct {
	End   int    // index just past it
	Mant  uint64 // its digits without the point, when exact
	Frac  int    // digits after the point, when exact
	Neg   bool
	Exact bool // no exponent, at most 15 digits: Mant/10^Frac is the value
}

// ScanNumber checks the JSON number grammar at in[i]:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func ScanNumber(in []byte, i int) (n Number, ok bool) {
	j := i
	if j < len(in) && in[j] == '-' {
		n.Neg = true
		j++
	}
	digits := 0
	switch {
	case j >= len(in):
		return n, false
	case in[j] == '0':
		j++
		digits = 1
	case in[j] >= '1' && in[j] <= '9':
		for ; j < len(in) && in[j] >= '0' && in[j] <= '9'; j++ {
			n.Mant = n.Mant*10 + uint64(in[j]-'0') // may wrap; then digits > 15
			digits++
		}
	default:
		return n, false
	}
	if j < len(in) && in[j] == '.' {
		j++
		start := j
		for ; j < len(in) && in[j] >= '0' && in[j] <= '9'; j++ {
			n.Mant = n.Mant*10 + uint64(in[j]-'0')
			digits++
		}
		if j == start {
			return n, false
		}
		n.Frac = j - start
	}
	n.Exact = digits <= 15
	if j < len(in) && (in[j] == 'e' || in[j] == 'E') {
		n.Exact = false
		j++
		if j < len(in) && (in[j] == '+' || in[j] == '-') {
			j++
		}
		start := j
		for j < len(in) && in[j] >= '0' && in[j] <= '9' {
			j++
		}
		if j == start {
			return n, false
		}
	}
	n.End = j
	return n, true
}

// String reads the JSON string at in[i] == '"' and returns its content
// and the index just past it. The content aliases in when the string needs
// no unescaping, else *buf; either way it is valid until the next call with
// the same buf. Strings with escapes or invalid UTF-8 are validated and
// unquoted by tok, segmentio's tokenizer, exactly as the reference decoder
// does; tok is reset to them.
func String(in []byte, i int, tok *json.Tokenizer, buf *[]byte) ([]byte, int, bool) {
	j := i + 1
	// Eight bytes at a time: nearly every string is short printable ASCII.
	for ; j+8 <= len(in); j += 8 {
		if m := stringStop(binary.LittleEndian.Uint64(in[j:])); m != 0 {
			j += bits.TrailingZeros64(m) >> 3
			goto stop
		}
	}
	for ; j < len(in); j++ {
		if c := in[j]; c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			goto stop
		}
	}
	return nil, i, false
stop:
	if in[j] == '"' {
		return in[i+1 : j], j + 1, true
	}
	return stringSlow(in, i, j, tok, buf)
}

// stringStop marks (with its high bit) each byte of w that is '"', '\\',
// a control character or not ASCII. With the high bits cleared first, no
// byte's sum carries into the next, so every mark is exact (after
// graphics.stanford.edu/~seander/bithacks.html#HasLessInWord).
func stringStop(w uint64) uint64 {
	const ones, high = 0x0101010101010101, 0x8080808080808080
	t := w &^ high
	// Each sum has its high bit clear exactly where the byte is to stop:
	// t < 0x20, t == '"', t == '\\'.
	keep := (t + ones*(0x80-0x20)) & ((t ^ ones*'"') + ones*0x7f) & ((t ^ ones*'\\') + ones*0x7f)
	return (^keep | w) & high
}

// stringSlow finishes String from in[j], the first byte that is not
// printable ASCII.
func stringSlow(in []byte, i, j int, tok *json.Tokenizer, buf *[]byte) ([]byte, int, bool) {
	escaped := false
	for ; j < len(in); j++ {
		switch c := in[j]; {
		case c == '"':
			content := in[i+1 : j]
			if !escaped && utf8.Valid(content) {
				// What the tokenizer's unquoting returns for it, unchanged.
				return content, j + 1, true
			}
			// Escapes or invalid UTF-8: segmentio validates the escapes and
			// unquotes (invalid UTF-8 becomes U+FFFD), as in the reference
			// decoder.
			tok.Reset(in[i : j+1])
			if !tok.Next() || tok.Remaining() != 0 || !tok.Value.String() {
				return nil, i, false
			}
			*buf = tok.Value.AppendUnquote((*buf)[:0])
			return *buf, j + 1, true
		case c == '\\':
			escaped = true
			j++ // the escaped byte cannot end the string
		case c < 0x20:
			return nil, i, false
		}
	}
	return nil, i, false
}

// Skip checks the syntax of the (unknown field's) value at in[i] and
// returns the index just past it; depth is how deep in[i] is nested in
// skipped values already (0 at a member's value). tok and buf are String's
// scratch for strings with escapes.
func Skip(in []byte, i, depth int, tok *json.Tokenizer, buf *[]byte) (int, bool) {
	switch in[i] {
	case '"':
		_, j, ok := String(in, i, tok, buf)
		return j, ok
	case 'n':
		return Null(in, i)
	case 't':
		if len(in)-i >= 4 && string(in[i:i+4]) == "true" {
			return i + 4, true
		}
		return i, false
	case 'f':
		if len(in)-i >= 5 && string(in[i:i+5]) == "false" {
			return i + 5, true
		}
		return i, false
	case '{', '[':
		if depth >= MaxDepth {
			return i, false
		}
		obj := in[i] == '{'
		end := byte(']')
		if obj {
			end = '}'
		}
		if i = SkipWS(in, i+1); i < len(in) && in[i] == end {
			return i + 1, true
		}
		for {
			if i >= len(in) {
				return i, false
			}
			var ok bool
			if obj {
				if in[i] != '"' {
					return i, false
				}
				var j int
				if _, j, ok = String(in, i, tok, buf); !ok {
					return i, false
				}
				if i = SkipWS(in, j); i >= len(in) || in[i] != ':' {
					return i, false
				}
				if i = SkipWS(in, i+1); i >= len(in) {
					return i, false
				}
			}
			if i, ok = Skip(in, i, depth+1, tok, buf); !ok {
				return i, false
			}
			if i = SkipWS(in, i); i >= len(in) {
				return i, false
			}
			if in[i] == end {
				return i + 1, true
			}
			if in[i] != ',' {
				return i, false
			}
			i = SkipWS(in, i+1)
		}
	}
	n, ok := ScanNumber(in, i)
	return n.End, ok
}
