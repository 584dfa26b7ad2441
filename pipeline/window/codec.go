package window

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/salespulse/salespulse/schemas"
)

// Changelog records. Key: source topic, 0x00, kind byte, id. Kind 'L' is a
// lead, 'A' an approval (value: item), 'M' the partition's watermark
// history (value: meta). A nil value is a tombstone.
//
// Every record carries, per event, the last offset of the source batch the
// event came in, so a restore at offset C can drop what batches >= C
// contributed: those batches are consumed again.
const codecVersion = 1

const kindMeta = 'M'

var errCorrupt = errors.New("corrupt changelog record")

func recordKey(dst []byte, topic string, kind byte, id string) []byte {
	dst = append(dst, topic...)
	dst = append(dst, 0, kind)
	return append(dst, id...)
}

func parseKey(k []byte) (topic string, kind byte, id string, ok bool) {
	for i, c := range k {
		if c == 0 {
			if i+1 >= len(k) {
				return "", 0, "", false
			}
			return string(k[:i]), k[i+1], string(k[i+2:]), true
		}
	}
	return "", 0, "", false
}

func appendEv(b []byte, e *ev) []byte {
	b = binary.AppendVarint(b, e.at)
	b = binary.AppendVarint(b, e.off)
	var ok byte
	if e.ok {
		ok = 1
	}
	b = append(b, e.kind, byte(e.typ), byte(e.ch), ok)
	b = appendStr(b, e.id)
	b = appendStr(b, e.rep)
	return appendStr(b, e.team)
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// encodeItem renders the checkpoint of it: its base (the open event as of
// the GC point) and every event not yet dropped.
func encodeItem(b []byte, it *item) []byte {
	b = append(b, codecVersion)
	base := it.base
	if !it.baseSet {
		base = nil
		if it.hasOpen {
			base = &it.open
		}
	}
	if base != nil {
		b = append(b, 1)
		b = appendEv(b, base)
	} else {
		b = append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(it.evs)))
	for k := range it.evs {
		b = appendEv(b, &it.evs[k])
	}
	return b
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errCorrupt
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errCorrupt
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		r.err = errCorrupt
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) str() string {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		r.err = errCorrupt
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *reader) ev() ev {
	var e ev
	e.at = r.varint()
	e.off = r.varint()
	e.kind = r.byte()
	e.typ = schemas.Type(r.byte())
	e.ch = schemas.Channel(r.byte())
	e.ok = r.byte() == 1
	e.id = r.str()
	e.rep = r.str()
	e.team = r.str()
	return e
}

func decodeItem(v []byte) (base *ev, evs []ev, err error) {
	r := &reader{b: v}
	if r.byte() != codecVersion {
		return nil, nil, fmt.Errorf("decode item: %w: version", errCorrupt)
	}
	if r.byte() == 1 {
		e := r.ev()
		base = &e
	}
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)) {
		r.err = errCorrupt
	}
	if r.err != nil {
		return nil, nil, fmt.Errorf("decode item: %w", r.err)
	}
	evs = make([]ev, 0, n)
	for range n {
		evs = append(evs, r.ev())
	}
	if r.err != nil {
		return nil, nil, fmt.Errorf("decode item: %w", r.err)
	}
	return base, evs, nil
}

// mark is the watermark state after one batch.
type mark struct {
	last int64 // the batch's last offset
	maxT int64 // largest accepted event time so far, unix ms
}

// noTime is maxT before any event.
const noTime = math.MinInt64

func encodeMeta(b []byte, base int64, hist []mark) []byte {
	b = append(b, codecVersion)
	b = binary.AppendVarint(b, base)
	b = binary.AppendUvarint(b, uint64(len(hist)))
	for _, m := range hist {
		b = binary.AppendVarint(b, m.last)
		b = binary.AppendVarint(b, m.maxT)
	}
	return b
}

// decodeMeta returns the largest event time as of the batches below from.
func decodeMeta(v []byte, from int64) (int64, error) {
	r := &reader{b: v}
	if r.byte() != codecVersion {
		return 0, fmt.Errorf("decode meta: %w: version", errCorrupt)
	}
	maxT := r.varint()
	n := r.uvarint()
	for range n {
		last, m := r.varint(), r.varint()
		if r.err != nil {
			break
		}
		if last < from && m > maxT {
			maxT = m
		}
	}
	if r.err != nil {
		return 0, fmt.Errorf("decode meta: %w", r.err)
	}
	return maxT, nil
}
