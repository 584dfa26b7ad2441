package window

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/salespulse/salespulse/pipeline/window/internal/pairing"
	"github.com/salespulse/salespulse/schemas"
)

// State records (namespace state.Window; the store scopes them by input
// partition). Key: kind byte, id. Kind 'L' is a lead, 'A' an approval
// (pairing.Lead, pairing.Approval; value: item), 'M' with an empty id the partition's watermark history
// (value: meta). A nil value deletes the key. The key format is also the
// state store's: its migration of the old changelog topic rewrites keys
// "topic 0x00 kind id" to exactly "kind id".
//
// Every record carries, per event, the last offset of the source batch the
// event came in, so a restore at offset C can drop what batches >= C
// contributed: those batches are consumed again.
const codecVersion = 1

const kindMeta = 'M'

// kindUpstream keys an upstream's progress (watermark.Upstreams) when the
// input carries progress marks; id is the upstream's "topic/partition".
const kindUpstream = 'U'

// metaKey is the meta record's key: kindMeta, empty id.
const metaKey = string(kindMeta)

var errCorrupt = errors.New("corrupt state record")

func recordKey(dst []byte, kind byte, id string) []byte {
	dst = append(dst, kind)
	return append(dst, id...)
}

func parseKey(k string) (kind byte, id string, ok bool) {
	if k == "" {
		return 0, "", false
	}
	return k[0], k[1:], true
}

func appendEv(b []byte, e *pairing.Event) []byte {
	b = binary.AppendVarint(b, e.At)
	b = binary.AppendVarint(b, e.Off)
	var ok byte
	if e.OK {
		ok = 1
	}
	b = append(b, e.Kind, byte(e.Type), byte(e.Channel), ok)
	b = appendStr(b, e.ID)
	b = appendStr(b, e.Rep)
	return appendStr(b, e.Team)
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// encodeItem renders an item's checkpoint (pairing.Pairer.Flush): its base
// (the open event as of the GC point) and every event not yet dropped.
func encodeItem(b []byte, base *pairing.Event, evs []pairing.Event) []byte {
	b = append(b, codecVersion)
	if base != nil {
		b = append(b, 1)
		b = appendEv(b, base)
	} else {
		b = append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(evs)))
	for k := range evs {
		b = appendEv(b, &evs[k])
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

func (r *reader) ev() pairing.Event {
	var e pairing.Event
	e.At = r.varint()
	e.Off = r.varint()
	e.Kind = r.byte()
	e.Type = schemas.Type(r.byte())
	e.Channel = schemas.Channel(r.byte())
	e.OK = r.byte() == 1
	e.ID = r.str()
	e.Rep = r.str()
	e.Team = r.str()
	return e
}

func decodeItem(v []byte) (base *pairing.Event, evs []pairing.Event, err error) {
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
	evs = make([]pairing.Event, 0, n)
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

// metaVersion is the meta record's format. Version 1 held base and hist
// only: it could not tell which offset its base was as of, so a restore
// below it took the newest watermark (every replayed event late).
const metaVersion = 2

// meta is a partition's watermark history and the points its state is
// anchored at.
type meta struct {
	base  int64  // largest event time of the batches below point (noTime: none)
	point int64  // the items' bases and base are the state as of this offset (the last GC point); -1 none
	first int64  // the offset the state's history starts at (empty state there); -1 unknown
	hist  []mark // batches at or after point, in offset order
	old   []mark // batches below point, thinned to at most oldMarks, in offset order
}

// oldMarks bounds the watermark history kept below the GC point (16 bytes
// each at most): enough for a replay from any earlier offset to know the
// watermark it passed there, or a lower one when thinned, never a higher.
const oldMarks = 512

// appendOld adds m to the history below the GC point, thinning it (every
// other mark dropped, the newest kept) when full. A dropped mark makes a
// replay starting right after it use the previous, lower watermark: fewer
// events late than in the original run, never more.
func appendOld(old []mark, m mark) []mark {
	old = append(old, m)
	if len(old) <= oldMarks {
		return old
	}
	n := 0
	for k := range old {
		if k%2 == 1 || k == len(old)-1 {
			old[n] = old[k]
			n++
		}
	}
	return old[:n]
}

// maxTBelow is the largest event time of marks with last < from.
func maxTBelow(marks []mark, from, init int64) int64 {
	for _, m := range marks {
		if m.last < from {
			init = max(init, m.maxT)
		}
	}
	return init
}

func appendMarks(b []byte, ms []mark) []byte {
	b = binary.AppendUvarint(b, uint64(len(ms)))
	for _, m := range ms {
		b = binary.AppendVarint(b, m.last)
		b = binary.AppendVarint(b, m.maxT)
	}
	return b
}

func encodeMeta(b []byte, m *meta) []byte {
	b = append(b, metaVersion)
	b = binary.AppendVarint(b, m.base)
	b = binary.AppendVarint(b, m.point)
	b = binary.AppendVarint(b, m.first)
	b = appendMarks(b, m.hist)
	return appendMarks(b, m.old)
}

func (r *reader) marks() []mark {
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)) {
		r.err = errCorrupt
	}
	if r.err != nil {
		return nil
	}
	ms := make([]mark, 0, n)
	for range n {
		m := mark{last: r.varint(), maxT: r.varint()}
		if r.err != nil {
			return nil
		}
		ms = append(ms, m)
	}
	return ms
}

// decodeMeta reads a meta record of either version. Version 1 records
// (written before the GC point was kept) decode with point and first -1:
// restores then behave as before.
func decodeMeta(v []byte) (meta, error) {
	r := &reader{b: v}
	m := meta{point: -1, first: -1}
	switch r.byte() {
	case 1:
		m.base = r.varint()
		m.hist = r.marks()
	case metaVersion:
		m.base = r.varint()
		m.point = r.varint()
		m.first = r.varint()
		m.hist = r.marks()
		m.old = r.marks()
	default:
		return meta{}, fmt.Errorf("decode meta: %w: version", errCorrupt)
	}
	if r.err != nil {
		return meta{}, fmt.Errorf("decode meta: %w", r.err)
	}
	return m, nil
}
