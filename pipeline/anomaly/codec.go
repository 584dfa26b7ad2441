package anomaly

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/salespulse/salespulse/schemas"
)

// State values: a version byte, then the versions (see checkpoint.go),
// each a varint last offset, a presence byte and, when present, the
// length-prefixed state of the key's kind. Maps are written in key order,
// so equal states encode to equal bytes (a touched key whose state did not
// change adds no version).
const codecVersion = 1

var errCorrupt = errors.New("corrupt anomaly state record")

func appendVersions(b []byte, vers []version) []byte {
	b = append(b, codecVersion)
	b = binary.AppendUvarint(b, uint64(len(vers)))
	for _, v := range vers {
		b = binary.AppendVarint(b, v.last)
		if v.val == nil {
			b = append(b, 0)
			continue
		}
		b = append(b, 1)
		b = binary.AppendUvarint(b, uint64(len(v.val)))
		b = append(b, v.val...)
	}
	return b
}

func decodeVersions(v []byte) ([]version, error) {
	r := &reader{b: v}
	if r.byte() != codecVersion {
		return nil, fmt.Errorf("decode versions: %w: version", errCorrupt)
	}
	n := r.count()
	vers := make([]version, 0, n)
	for range n {
		x := version{last: r.varint()}
		if r.byte() == 1 {
			x.val = r.bytes()
		}
		vers = append(vers, x)
	}
	if r.err != nil {
		return nil, fmt.Errorf("decode versions: %w", r.err)
	}
	return vers, nil
}

// encode appends the state of k, or returns nil when p has none.
func (p *partState) encode(b []byte, k skey) []byte {
	switch k.kind {
	case kindMeta:
		b = append(b, codecVersion)
		b = appendTime(b, p.maxT)
		b = appendTime(b, p.lastSweep)
		return binary.AppendUvarint(b, uint64(p.gen))
	case kindLead:
		l := p.leads[k.id]
		if l == nil {
			return nil
		}
		b = append(b, codecVersion)
		b = binary.AppendUvarint(b, uint64(l.gen))
		b = appendTime(b, l.at)
		b = appendStrs(b, l.event, l.rep, l.team)
		b = append(b, byte(l.ch))
		b = binary.AppendVarint(b, int64(l.sla))
		b = appendTracked(b, l.breach)
		return appendTracked(b, l.escalate)
	case kindQuote:
		q := p.quotes[k.id]
		if q == nil {
			return nil
		}
		b = append(b, codecVersion)
		b = binary.AppendUvarint(b, uint64(q.gen))
		b = appendTime(b, q.at)
		b = appendStrs(b, q.event, q.rep, q.team, q.match)
		b = appendFloat(b, q.disc)
		b = appendFloat(b, q.auth.ApprovalAbovePct)
		b = appendFloat(b, q.auth.MaxPct)
		b = appendStrs(b, q.auth.Tier)
		b = binary.AppendVarint(b, int64(q.auth.Entry))
		b = appendStrs(b, q.subject.Role, q.subject.Team, q.subject.Region, q.subject.ProductLine)
		b = appendFloat(b, q.subject.Size)
		b = appendStrs(b, q.approval)
		return appendTracked(b, q.without)
	case kindApproval:
		a := p.approvals[k.id]
		if a == nil {
			return nil
		}
		b = append(b, codecVersion)
		b = binary.AppendUvarint(b, uint64(a.gen))
		b = appendTime(b, a.at)
		b = appendStrs(b, a.event, a.rep, a.team)
		b = appendFloat(b, a.disc)
		b = appendBool(b, a.hasDisc)
		b = appendStrs(b, a.quote)
		return appendTracked(b, a.backlog)
	case kindMatch:
		ids, ok := p.byMatch[k.id]
		if !ok {
			return nil
		}
		b = append(b, codecVersion)
		b = binary.AppendUvarint(b, uint64(len(ids)))
		return appendStrs(b, ids...)
	case kindLink:
		q, ok := p.byApproval[k.id]
		if !ok {
			return nil
		}
		return appendStrs(append(b, codecVersion), q)
	case kindEpisode:
		ep := p.episodes[k.id]
		if ep == nil {
			return nil
		}
		return appendTracked(append(b, codecVersion), ep.t)
	case kindTeamRing, kindRepRing:
		r := p.ring(k)
		if r == nil {
			return nil
		}
		b = append(b, codecVersion)
		b = binary.AppendUvarint(b, uint64(r.size))
		b = binary.AppendUvarint(b, uint64(r.next))
		b = binary.AppendUvarint(b, uint64(len(r.v)))
		for _, x := range r.v {
			b = appendFloat(b, x)
		}
		return b
	case kindWindow:
		start, team, ok := windowKey(k.id)
		if !ok {
			return nil
		}
		c := p.activity.windows[start][team]
		if c == nil {
			return nil
		}
		b = append(b, codecVersion)
		b = binary.AppendUvarint(b, uint64(c.total))
		reps := sortedKeys(c.reps)
		b = binary.AppendUvarint(b, uint64(len(reps)))
		for _, rep := range reps {
			b = appendStrs(b, rep)
			b = binary.AppendUvarint(b, uint64(c.reps[rep]))
		}
		reps = sortedKeys(c.last)
		b = binary.AppendUvarint(b, uint64(len(reps)))
		for _, rep := range reps {
			b = appendStrs(b, rep, c.last[rep])
		}
		return b
	case kindShares:
		sh, ok := p.activity.shares[k.id]
		if !ok {
			return nil
		}
		b = append(b, codecVersion)
		reps := sortedKeys(sh)
		b = binary.AppendUvarint(b, uint64(len(reps)))
		for _, rep := range reps {
			s := sh[rep]
			b = appendStrs(b, rep)
			b = appendFloat(b, s.share)
			b = binary.AppendUvarint(b, uint64(s.windows))
		}
		return b
	}
	return nil
}

// decode sets the state of k from val (present).
func (p *partState) decode(k skey, val []byte) error {
	r := &reader{b: val}
	if r.byte() != codecVersion {
		return fmt.Errorf("decode %c: %w: version", k.kind, errCorrupt)
	}
	switch k.kind {
	case kindMeta:
		maxT, sweep, gen := r.time(), r.time(), uint32(r.uvarint())
		if err := r.done(k); err != nil {
			return err
		}
		p.maxT, p.lastSweep, p.gen = maxT, sweep, gen
	case kindLead:
		l := &lead{gen: uint32(r.uvarint()), at: r.time(), event: r.str(), rep: r.str(), team: r.str(), ch: schemas.Channel(r.byte())}
		l.sla = time.Duration(r.varint())
		l.breach = r.tracked()
		l.escalate = r.tracked()
		if err := r.done(k); err != nil {
			return err
		}
		p.leads[k.id] = l
	case kindQuote:
		q := &quote{gen: uint32(r.uvarint()), at: r.time(), event: r.str(), rep: r.str(), team: r.str(), match: r.str(), disc: r.float()}
		q.auth = Authority{ApprovalAbovePct: r.float(), MaxPct: r.float(), Tier: r.str(), Entry: int(r.varint())}
		q.subject = Subject{Role: r.str(), Team: r.str(), Region: r.str(), ProductLine: r.str(), Size: r.float()}
		q.approval = r.str()
		q.without = r.tracked()
		if q.without == nil {
			r.fail()
		}
		if err := r.done(k); err != nil {
			return err
		}
		p.quotes[k.id] = q
	case kindApproval:
		a := &approval{gen: uint32(r.uvarint()), at: r.time(), event: r.str(), rep: r.str(), team: r.str(), disc: r.float()}
		a.hasDisc = r.byte() == 1
		a.quote = r.str()
		a.backlog = r.tracked()
		if err := r.done(k); err != nil {
			return err
		}
		p.approvals[k.id] = a
	case kindMatch:
		n := r.count()
		ids := make([]string, 0, n)
		for range n {
			ids = append(ids, r.str())
		}
		if err := r.done(k); err != nil {
			return err
		}
		p.byMatch[k.id] = ids
	case kindLink:
		q := r.str()
		if err := r.done(k); err != nil {
			return err
		}
		p.byApproval[k.id] = q
	case kindEpisode:
		t := r.tracked()
		if t == nil {
			r.fail()
		}
		if err := r.done(k); err != nil {
			return err
		}
		p.episodes[k.id] = &episode{t: t}
	case kindTeamRing, kindRepRing:
		rg := &ring{size: int(r.uvarint()), next: int(r.uvarint())}
		n := r.count()
		rg.v = make([]float64, 0, n)
		for range n {
			rg.v = append(rg.v, r.float())
		}
		if rg.size < 1 || len(rg.v) > rg.size || rg.next >= rg.size {
			r.fail()
		}
		if err := r.done(k); err != nil {
			return err
		}
		if !p.setRing(k, rg) {
			return fmt.Errorf("decode ring key %q: %w", k.id, errCorrupt)
		}
	case kindWindow:
		start, team, ok := windowKey(k.id)
		if !ok {
			return fmt.Errorf("decode window key %q: %w", k.id, errCorrupt)
		}
		c := &winCounts{total: int(r.uvarint()), reps: map[string]int{}, last: map[string]string{}}
		for n := r.count(); n > 0; n-- {
			c.reps[r.str()] = int(r.uvarint())
		}
		for n := r.count(); n > 0; n-- {
			rep := r.str()
			c.last[rep] = r.str()
		}
		if err := r.done(k); err != nil {
			return err
		}
		teams := p.activity.windows[start]
		if teams == nil {
			teams = map[string]*winCounts{}
			p.activity.windows[start] = teams
		}
		teams[team] = c
	case kindShares:
		sh := map[string]*repShare{}
		for n := r.count(); n > 0; n-- {
			rep := r.str()
			sh[rep] = &repShare{share: r.float(), windows: int(r.uvarint())}
		}
		if err := r.done(k); err != nil {
			return err
		}
		p.activity.shares[k.id] = sh
	default:
		return fmt.Errorf("decode: %w: kind %q", errCorrupt, k.kind)
	}
	return nil
}

// done reports a decoding error, or bytes left over, before anything is
// stored: a corrupt record never leaves half a state behind.
func (r *reader) done(k skey) error {
	if r.err == nil && len(r.b) != 0 {
		r.err = errCorrupt
	}
	if r.err != nil {
		return fmt.Errorf("decode %c %q: %w", k.kind, k.id, r.err)
	}
	return nil
}

// ring returns the outlier ring of a kindTeamRing or kindRepRing key.
func (p *partState) ring(k skey) *ring {
	parts := strings.Split(k.id, "\x00")
	ts := p.teams[parts[0]]
	if ts == nil || len(parts) < 2 {
		return nil
	}
	if k.kind == kindTeamRing && len(parts) == 2 {
		return ts.team[parts[1]]
	}
	if k.kind == kindRepRing && len(parts) == 3 {
		return ts.reps[parts[1]][parts[2]]
	}
	return nil
}

func (p *partState) setRing(k skey, r *ring) bool {
	parts := strings.Split(k.id, "\x00")
	if len(parts) < 2 || k.kind == kindTeamRing && len(parts) != 2 || k.kind == kindRepRing && len(parts) != 3 {
		return false
	}
	ts := p.teams[parts[0]]
	if ts == nil {
		ts = &teamStats{team: map[string]*ring{}, reps: map[string]map[string]*ring{}}
		p.teams[parts[0]] = ts
	}
	rule := parts[1]
	if ts.reps[rule] == nil {
		ts.reps[rule] = map[string]*ring{}
	}
	if k.kind == kindTeamRing {
		ts.team[rule] = r
	} else {
		ts.reps[rule][parts[2]] = r
	}
	return true
}

func teamRingID(team, rule string) string     { return team + "\x00" + rule }
func repRingID(team, rule, rep string) string { return team + "\x00" + rule + "\x00" + rep }

func windowID(start int64, team string) string {
	return strconv.FormatInt(start, 10) + "\x00" + team
}

func windowKey(id string) (start int64, team string, ok bool) {
	s, team, ok := strings.Cut(id, "\x00")
	if !ok {
		return 0, "", false
	}
	start, err := strconv.ParseInt(s, 10, 64)
	return start, team, err == nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// appendTracked writes an alert's full state: 0 for none.
func appendTracked(b []byte, t *tracked) []byte {
	if t == nil {
		return append(b, 0)
	}
	a := &t.a
	b = append(b, 1, byte(a.State), byte(a.Severity))
	b = appendStrs(b, a.ID, a.Rule, a.RepID, a.TeamID, a.ManagerID, a.Summary)
	b = binary.AppendUvarint(b, uint64(len(a.EventIDs)))
	b = appendStrs(b, a.EventIDs...)
	if a.Values == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		ks := sortedKeys(a.Values)
		b = binary.AppendUvarint(b, uint64(len(ks)))
		for _, k := range ks {
			b = appendStrs(b, k, a.Values[k])
		}
	}
	b = appendTime(b, a.At)
	return appendTime(b, a.EndsAt)
}

func appendStrs(b []byte, ss ...string) []byte {
	for _, s := range ss {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

func appendFloat(b []byte, f float64) []byte {
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// zeroTime encodes time.Time{} (UnixNano cannot represent it).
const zeroTime = math.MinInt64

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return binary.AppendVarint(b, zeroTime)
	}
	return binary.AppendVarint(b, t.UnixNano())
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = errCorrupt
	}
	r.b = nil
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a length that must fit in what is left (every element takes
// at least a byte), so a corrupt record cannot make us allocate much.
func (r *reader) count() int {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
		return 0
	}
	return int(n)
}

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		r.fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) bytes() []byte {
	n := r.count()
	if r.err != nil {
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) str() string { return string(r.bytes()) }

func (r *reader) float() float64 {
	if len(r.b) < 8 {
		r.fail()
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(r.b))
	r.b = r.b[8:]
	return v
}

func (r *reader) time() time.Time {
	n := r.varint()
	if n == zeroTime || r.err != nil {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func (r *reader) tracked() *tracked {
	if r.byte() != 1 {
		return nil
	}
	t := &tracked{}
	a := &t.a
	a.State, a.Severity = schemas.AlertState(r.byte()), schemas.Severity(r.byte())
	a.ID, a.Rule, a.RepID, a.TeamID, a.ManagerID, a.Summary = r.str(), r.str(), r.str(), r.str(), r.str(), r.str()
	if n := r.count(); n > 0 {
		a.EventIDs = make([]string, 0, n)
		for range n {
			a.EventIDs = append(a.EventIDs, r.str())
		}
	}
	if r.byte() == 1 {
		n := r.count()
		a.Values = make(map[string]string, n)
		for range n {
			k := r.str()
			a.Values[k] = r.str()
		}
	}
	a.At = r.time()
	a.EndsAt = r.time()
	return t
}
