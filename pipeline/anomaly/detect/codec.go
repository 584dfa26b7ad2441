package detect

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/salespulse/salespulse/schemas"
)

// State values: a version byte, then the versions (see checkpoint.go),
// each a varint last offset, a presence byte and, when present, the
// length-prefixed state of the key's kind: codecVersion, then what its
// owner's State.Encode appended. Maps are written in key order, so equal
// states encode to equal bytes (a touched key whose state did not change
// adds no version).
const codecVersion = 1

var ErrCorrupt = errors.New("corrupt anomaly state record")

// AppendVersions appends a state record's value: the key's versions,
// oldest first.
func AppendVersions(b []byte, vers []Version) []byte {
	b = append(b, codecVersion)
	b = binary.AppendUvarint(b, uint64(len(vers)))
	for _, v := range vers {
		b = binary.AppendVarint(b, v.Last)
		if v.Val == nil {
			b = append(b, 0)
			continue
		}
		b = append(b, 1)
		b = binary.AppendUvarint(b, uint64(len(v.Val)))
		b = append(b, v.Val...)
	}
	return b
}

// DecodeVersions reads what AppendVersions wrote; Val slices alias v.
func DecodeVersions(v []byte) ([]Version, error) {
	r := &Reader{b: v}
	if r.Byte() != codecVersion {
		return nil, fmt.Errorf("decode versions: %w: version", ErrCorrupt)
	}
	n := r.Count()
	vers := make([]Version, 0, n)
	for range n {
		x := Version{Last: r.Varint()}
		if r.Byte() == 1 {
			x.Val = r.Bytes()
		}
		vers = append(vers, x)
	}
	if r.err != nil {
		return nil, fmt.Errorf("decode versions: %w", r.err)
	}
	return vers, nil
}

// Encode appends the checkpoint value of k, or returns nil when the
// partition holds nothing under k: a version byte, then the encoding of
// the kind's owner.
func (p *Partition) Encode(b []byte, k Key) []byte {
	b = append(b, codecVersion)
	switch o := p.r.owner[k.Kind]; {
	case k.Kind == KindMeta:
		b = AppendTime(b, p.maxT)
		b = AppendTime(b, p.lastSweep)
		return binary.AppendUvarint(b, uint64(p.gen))
	case k.Kind == KindEpisode:
		t := p.episodes[k.ID]
		if t == nil {
			return nil
		}
		return AppendTracked(b, t)
	case o >= 0:
		b, ok := p.states[o].Encode(b, k)
		if !ok {
			return nil
		}
		return b
	}
	return nil
}

// Decode sets the state of k from val (present).
func (p *Partition) Decode(k Key, val []byte) error {
	r := &Reader{b: val}
	if r.Byte() != codecVersion {
		return fmt.Errorf("decode %c: %w: version", k.Kind, ErrCorrupt)
	}
	switch o := p.r.owner[k.Kind]; {
	case k.Kind == KindMeta:
		maxT, sweep, gen := r.Time(), r.Time(), uint32(r.Uvarint())
		if err := r.Done(k); err != nil {
			return err
		}
		p.maxT, p.lastSweep, p.gen = maxT, sweep, gen
	case k.Kind == KindEpisode:
		t := r.Tracked()
		if t == nil {
			r.Fail()
		}
		if err := r.Done(k); err != nil {
			return err
		}
		p.episodes[k.ID] = t
	case o >= 0:
		return p.states[o].Decode(k, r)
	default:
		return fmt.Errorf("decode: %w: kind %q", ErrCorrupt, k.Kind)
	}
	return nil
}

// Done reports a decoding error, or bytes left over. Decoders call it
// before storing anything: a corrupt record never leaves half a state
// behind.
func (r *Reader) Done(k Key) error {
	if r.err == nil && len(r.b) != 0 {
		r.err = ErrCorrupt
	}
	if r.err != nil {
		return fmt.Errorf("decode %c %q: %w", k.Kind, k.ID, r.err)
	}
	return nil
}

// SortedKeys returns m's keys in order, for deterministic encodings.
func SortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// AppendTracked appends an alert's full state: 0 for none.
func AppendTracked(b []byte, t *Tracked) []byte {
	if t == nil {
		return append(b, 0)
	}
	a := &t.Alert
	b = append(b, 1, byte(a.State), byte(a.Severity))
	b = AppendStrs(b, a.ID, a.Rule, a.RepID, a.TeamID, a.ManagerID, a.Summary)
	b = binary.AppendUvarint(b, uint64(len(a.EventIDs)))
	b = AppendStrs(b, a.EventIDs...)
	if a.Values == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		ks := SortedKeys(a.Values)
		b = binary.AppendUvarint(b, uint64(len(ks)))
		for _, k := range ks {
			b = AppendStrs(b, k, a.Values[k])
		}
	}
	b = AppendTime(b, a.At)
	return AppendTime(b, a.EndsAt)
}

// AppendStrs appends each string, length-prefixed.
func AppendStrs(b []byte, ss ...string) []byte {
	for _, s := range ss {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// AppendFloat appends f's IEEE 754 bits, little-endian.
func AppendFloat(b []byte, f float64) []byte {
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
}

// AppendBool appends 1 or 0.
func AppendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// zeroTime encodes time.Time{} (UnixNano cannot represent it).
const zeroTime = math.MinInt64

// AppendTime appends t in Unix nanoseconds (zeroTime for the zero time).
func AppendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return binary.AppendVarint(b, zeroTime)
	}
	return binary.AppendVarint(b, t.UnixNano())
}

// Reader reads what the Append functions wrote. The first error sticks:
// later reads return zero values, and Done reports it.
type Reader struct {
	b   []byte
	err error
}

// NewReader reads b (a piece of a record a detector keeps in its own
// form).
func NewReader(b []byte) *Reader { return &Reader{b: b} }

// Rest is what is left to read.
func (r *Reader) Rest() []byte { return r.b }

// More reports whether bytes are left to read: a decoder reads a field
// appended to its record later only when it is there, so checkpoints
// written before the field existed still decode.
func (r *Reader) More() bool { return r.err == nil && len(r.b) > 0 }

// Fail marks the record corrupt (a decoder's own consistency check).
func (r *Reader) Fail() {
	if r.err == nil {
		r.err = ErrCorrupt
	}
	r.b = nil
}

// Varint reads a binary.AppendVarint.
func (r *Reader) Varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.Fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

// Uvarint reads a binary.AppendUvarint.
func (r *Reader) Uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.Fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

// Count reads a length that must fit in what is left (every element takes
// at least a byte), so a corrupt record cannot make us allocate much.
func (r *Reader) Count() int {
	n := r.Uvarint()
	if n > uint64(len(r.b)) {
		r.Fail()
		return 0
	}
	return int(n)
}

// Byte reads one byte.
func (r *Reader) Byte() byte {
	if len(r.b) == 0 {
		r.Fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// Bytes reads a length-prefixed byte string; it aliases the record.
func (r *Reader) Bytes() []byte {
	n := r.Count()
	if r.err != nil {
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// Str reads a string written by AppendStrs.
func (r *Reader) Str() string { return string(r.Bytes()) }

// Float reads an AppendFloat.
func (r *Reader) Float() float64 {
	if len(r.b) < 8 {
		r.Fail()
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(r.b))
	r.b = r.b[8:]
	return v
}

// Time reads an AppendTime, in UTC.
func (r *Reader) Time() time.Time {
	n := r.Varint()
	if n == zeroTime || r.err != nil {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// Tracked reads an AppendTracked; nil for none.
func (r *Reader) Tracked() *Tracked {
	if r.Byte() != 1 {
		return nil
	}
	t := &Tracked{}
	a := &t.Alert
	a.State, a.Severity = schemas.AlertState(r.Byte()), schemas.Severity(r.Byte())
	a.ID, a.Rule, a.RepID, a.TeamID, a.ManagerID, a.Summary = r.Str(), r.Str(), r.Str(), r.Str(), r.Str(), r.Str()
	if n := r.Count(); n > 0 {
		a.EventIDs = make([]string, 0, n)
		for range n {
			a.EventIDs = append(a.EventIDs, r.Str())
		}
	}
	if r.Byte() == 1 {
		n := r.Count()
		a.Values = make(map[string]string, n)
		for range n {
			k := r.Str()
			a.Values[k] = r.Str()
		}
	}
	a.At = r.Time()
	a.EndsAt = r.Time()
	return t
}
