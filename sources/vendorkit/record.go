package vendorkit

import (
	"errors"
	"sync"

	"github.com/segmentio/encoding/json"

	"github.com/salespulse/salespulse/schemas"
)

// Pool is a sync.Pool of *T, the per-record decoding state a decoder reuses
// so that Decode is safe for concurrent use without allocating that state on
// every record. The zero value is ready to use. Get does not reset what it
// returns: the caller clears the state it is about to overwrite.
type Pool[T any] struct {
	p sync.Pool
}

// Get returns a pooled *T, or a new one.
func (p *Pool[T]) Get() *T {
	if v, ok := p.p.Get().(*T); ok {
		return v
	}
	return new(T)
}

// Put returns v to the pool. v must not be used afterwards.
func (p *Pool[T]) Put(v *T) { p.p.Put(v) }

// errTrailing is wrapped in the FieldError of a record with bytes after its
// top-level JSON value (two bodies glued together by a relay, say).
var errTrailing = errors.New("trailing data after the top-level value")

// Parse decodes the whole of value into v (a pointer) with json.ZeroCopy:
// the raw values v holds afterwards alias value and must be cloned before
// they outlive the record. A value that is not one JSON document of v's
// shape yields Malformed's FieldError.
func Parse(source string, value []byte, v any) error {
	rest, err := json.Parse(value, v, json.ZeroCopy)
	if err == nil && len(rest) != 0 {
		err = errTrailing
	}
	if err != nil {
		return Malformed(source, value, err)
	}
	return nil
}

// Malformed is the FieldError for a record that is not the JSON expected:
// no field, the whole value, and the parser's reason.
func Malformed(source string, value []byte, err error) error {
	return schemas.Invalid(source, "", string(value), "malformed JSON: "+err.Error())
}
