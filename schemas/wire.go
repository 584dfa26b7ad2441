package schemas

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// The wire form is how SalesPulse passes a pseudonymised Interaction between
// its own stages through Kafka (the internal lead topics, docs/leads.md).
// It is not a public contract: producers outside SalesPulse write the
// canonical JSON. It carries every field but the raw Contact, which never
// leaves pseudonymisation, and round-trips exactly, PairOnly and Customer included.
//
// Layout: the version byte, then fields in a fixed order: strings as a
// uvarint length and bytes, the event time as a varint of Unix
// nanoseconds, type, channel and flags as bytes (a watermark's send time
// follows as a varint of Unix nanoseconds), Has as a uvarint, the
// numbers as 8-byte little-endian IEEE 754, attributes as a count and
// key/value pairs in key order (so equal interactions encode equally).
const wireVersion = 1

// ErrWire is wrapped by DecodeWire for bytes that are not a wire record.
var ErrWire = errors.New("not a salespulse wire record")

const (
	wirePairOnly  = 1 << 0
	wireWatermark = 1 << 1
	// wirePeriod: a period string follows the flags (and the send time).
	// A flag rather than a new fixed field keeps records written before
	// forecasts existed readable.
	wirePeriod = 1 << 2
	// wireCustomer: Interaction.Customer. Records written before it have
	// the bit clear, which is what they meant.
	wireCustomer = 1 << 3
)

// AppendWire appends the wire form of i to dst. i.Contact is not written.
func AppendWire(dst []byte, i *Interaction) []byte {
	dst = append(dst, wireVersion)
	dst = appendWireString(dst, i.EventID)
	dst = binary.AppendVarint(dst, i.OccurredAt.UnixNano())
	dst = appendWireString(dst, i.Source)
	var flags byte
	if i.PairOnly {
		flags |= wirePairOnly
	}
	if i.Watermark {
		flags |= wireWatermark
	}
	if i.Period != "" {
		flags |= wirePeriod
	}
	if i.Customer {
		flags |= wireCustomer
	}
	dst = append(dst, byte(i.Type), byte(i.Channel), flags)
	if i.Watermark {
		dst = binary.AppendVarint(dst, i.SentAt.UnixNano())
	}
	if i.Period != "" {
		dst = appendWireString(dst, i.Period)
	}
	for _, s := range [...]string{i.RepID, i.TeamID, i.AccountID, i.LeadID, i.ApprovalID, i.ApproverID, i.Stage, i.Currency,
		i.ContactKey, i.Keys.Email, i.Keys.Phone, i.Keys.Mobile} {
		dst = appendWireString(dst, s)
	}
	dst = binary.AppendUvarint(dst, uint64(i.Has))
	for _, f := range [...]float64{i.DurationS, i.Amount, i.ListPrice, i.DiscountPct} {
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(f))
	}
	if i.Approved {
		dst = append(dst, 1)
	} else {
		dst = append(dst, 0)
	}
	dst = binary.AppendUvarint(dst, uint64(len(i.Attributes)))
	if len(i.Attributes) > 0 {
		var arr [16]string
		keys := arr[:0]
		for k := range i.Attributes {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			dst = appendWireString(dst, k)
			dst = appendWireString(dst, i.Attributes[k])
		}
	}
	return dst
}

func appendWireString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// DecodeWire decodes b into i, which it resets first (keeping the
// attribute map). The strings of i share two copies of b's bytes, made
// here: b may be reused once DecodeWire returns. One copy holds the ids
// the stages keep past a batch (the event, rep, team, account, lead and
// approval ids: an open lead's state, a detector's key), the other the
// rest, so kept state pins the few bytes of its ids and not the whole
// record (contact keys, attributes).
func DecodeWire(i *Interaction, b []byte) error {
	i.Reset()
	if len(b) == 0 || b[0] != wireVersion {
		return fmt.Errorf("%w: version byte %v", ErrWire, head(b))
	}
	r := wireReader{s: string(b[1:])}
	i.EventID = r.str()
	i.OccurredAt = time.Unix(0, r.varint()).UTC()
	i.Source = r.str()
	t, c, flags := r.byte(), r.byte(), r.byte()
	i.Type, i.Channel, i.PairOnly, i.Watermark = Type(t), Channel(c), flags&wirePairOnly != 0, flags&wireWatermark != 0
	i.Customer = flags&wireCustomer != 0
	if i.Watermark {
		i.SentAt = time.Unix(0, r.varint()).UTC()
	}
	if flags&wirePeriod != 0 {
		i.Period = r.str()
	}
	for _, p := range [...]*string{&i.RepID, &i.TeamID, &i.AccountID, &i.LeadID, &i.ApprovalID, &i.ApproverID, &i.Stage, &i.Currency,
		&i.ContactKey, &i.Keys.Email, &i.Keys.Phone, &i.Keys.Mobile} {
		*p = r.str()
	}
	i.Has = uint16(r.uvarint())
	for _, p := range [...]*float64{&i.DurationS, &i.Amount, &i.ListPrice, &i.DiscountPct} {
		*p = math.Float64frombits(r.uint64())
	}
	i.Approved = r.byte() == 1
	n := r.uvarint()
	if n > uint64(len(r.s)) {
		r.err = errWireShort
	}
	if n > 0 && r.err == nil {
		if i.Attributes == nil {
			i.Attributes = make(map[string]string, n)
		}
		for range n {
			k := r.str()
			i.Attributes[k] = r.str()
		}
	}
	if r.err == nil && len(r.s) > 0 {
		r.err = fmt.Errorf("%d trailing bytes", len(r.s))
	}
	if r.err == nil && (i.Type == TypeUnknown && !i.Watermark || i.Type >= numTypes || i.Channel >= numChannels) {
		r.err = fmt.Errorf("type %d or channel %d out of range", t, c)
	}
	if r.err != nil {
		return fmt.Errorf("%w: %w", ErrWire, r.err)
	}
	if !i.Watermark {
		keepApart(&i.EventID, &i.RepID, &i.TeamID, &i.AccountID, &i.LeadID, &i.ApprovalID)
	}
	return nil
}

// keepApart moves the strings ss point to into one allocation of their
// own.
func keepApart(ss ...*string) {
	n := 0
	for _, p := range ss {
		n += len(*p)
	}
	if n == 0 {
		return
	}
	var b strings.Builder
	b.Grow(n)
	for _, p := range ss {
		b.WriteString(*p)
	}
	all := b.String()
	for _, p := range ss {
		if k := len(*p); k > 0 {
			*p, all = all[:k], all[k:]
		}
	}
}

func head(b []byte) []byte { return b[:min(len(b), 1)] }

var errWireShort = errors.New("truncated")

// wireReader reads from one string so every decoded string is a substring
// of it: one allocation per record instead of one per field.
type wireReader struct {
	s   string
	err error
}

func (r *wireReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	var x uint64
	for k := 0; k < len(r.s) && k < binary.MaxVarintLen64; k++ {
		c := r.s[k]
		x |= uint64(c&0x7f) << (7 * k)
		if c < 0x80 {
			r.s = r.s[k+1:]
			return x
		}
	}
	r.err = errWireShort
	return 0
}

func (r *wireReader) varint() int64 {
	u := r.uvarint()
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x
}

func (r *wireReader) str() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.s)) {
		r.err = errWireShort
		return ""
	}
	s := r.s[:n]
	r.s = r.s[n:]
	return s
}

func (r *wireReader) byte() byte {
	if r.err != nil || len(r.s) == 0 {
		r.err = errWireShort
		return 0
	}
	c := r.s[0]
	r.s = r.s[1:]
	return c
}

func (r *wireReader) uint64() uint64 {
	if r.err != nil || len(r.s) < 8 {
		r.err = errWireShort
		return 0
	}
	s := r.s[:8]
	r.s = r.s[8:]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}
