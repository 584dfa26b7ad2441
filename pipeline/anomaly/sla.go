package anomaly

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/pipeline/anomaly/detect"
	"github.com/salespulse/salespulse/pipeline/internal/calendar"
	"github.com/salespulse/salespulse/pipeline/internal/timesort"
	"github.com/salespulse/salespulse/schemas"
)

// sla pages when a lead waits for an answer past its SLA
// (lead_response_sla), and again at EscalateFactor × the SLA
// (lead_response_sla_escalated). Each answer also publishes the rep's
// response time (RuleResponseOutlier) for the outlier detector.
//
// On the business clock (SLAConfig.Clock) both deadlines are counted in
// the team's calendar. Either way a deadline is a pure function of the
// trigger's event time, the team's calendar and the configuration, so a
// replay or a restore schedules it at the same instant.
//
// What a lead's events do depends on their order: an inbound touch opens
// a new wait if the lead was answered before it, and is part of the same
// wait if not. Behind the lead topics (detect.Options.Progress) a lead's
// events come from many upstreams (the routers of each source partition,
// the resolvers of each contacts partition), interleaved as they happen
// to run, so arrival order is not event-time order: two runs over one
// input paged for different leads. There the detector holds each event
// back until the partition's progress reaches it and then applies what
// the progress reached in event-time order (detect.Orderer); an event the
// progress had passed already (late) is applied when it arrives. Held
// events are saved in one state record per batch (kindHeld), deleted
// once all of them are applied.
type sla struct {
	cfg       *Config
	idx       *schemas.Index
	cals      map[string]Calendar
	openLeads prometheus.Gauge
	acks      *prometheus.CounterVec
	ackOK     prometheus.Counter // children looked up once
}

// Outcomes of an alert.acknowledged (salespulse_anomaly_acks_total).
const (
	ackApplied         = "applied"          // before the escalation: it will not fire
	ackAfterEscalation = "after_escalation" // the escalation had fired: values only
	ackUnknownLead     = "unknown_lead"     // no open lead: answered, expired or never seen
	ackOtherAlert      = "other_alert"      // names an alert of an earlier episode of the lead
	ackRepeated        = "repeated"         // the lead was acknowledged already
)

const (
	kindLead = 'L' // lead id: an open lead
	kindHeld = 'H' // a batch's last offset (8 bytes) and a chunk (2): its events not applied yet
)

// heldChunk bounds a kindHeld record's value (a key's versions share one
// Kafka record, 1 MB by default): a catch-up's batch holds back thousands.
const heldChunk = 128 << 10

// Deadline kinds.
const (
	dlSLA = iota
	dlEscalate
)

func newSLA(cfg *Config, idx *schemas.Index, cals map[string]Calendar, reg prometheus.Registerer) *sla {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "salespulse_anomaly_open_leads",
		Help: "Open leads of the partition whose leads changed last (a sample, not a sum).",
	})
	acks := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "salespulse_anomaly_acks_total",
		Help: "alert.acknowledged events the SLA detector consumed, by outcome (applied, after_escalation, unknown_lead, other_alert, repeated).",
	}, []string{"outcome"})
	for _, o := range []string{ackApplied, ackAfterEscalation, ackUnknownLead, ackOtherAlert, ackRepeated} {
		acks.WithLabelValues(o)
	}
	if reg != nil {
		reg.MustRegister(g, acks)
	}
	return &sla{cfg: cfg, idx: idx, cals: cals, openLeads: g, acks: acks, ackOK: acks.WithLabelValues(ackApplied)}
}

func (d *sla) Kinds() []byte { return []byte{kindLead, kindHeld} }

func (d *sla) NewState(p *detect.Partition, q detect.Queue) detect.State {
	return &slaPart{sla: d, p: p, q: q, leads: map[string]*lead{}, teamCals: map[string]*calendar.Calendar{},
		batches: map[string]*heldBatch{}}
}

// heldEvent is an event held back until the progress reaches it, in the
// form appendHeld writes: the fields the detector reads, a third of the
// wire form's bytes (the state records carry it; with the wire form a 1M
// canonical drain wrote 300 MB of detector state instead of 90). form
// points into its batch's buffer (heldBatch.buf, or slaPart.curBuf until
// Reached), so holding an event allocates nothing of its own.
type heldEvent struct {
	at   int64 // unix ms
	form []byte
}

// appendHeld appends what apply reads of i: its time, type, channel, and
// event, lead, rep, team, approval and approver ids.
func appendHeld(b []byte, i *schemas.Interaction) []byte {
	b = detect.AppendTime(b, i.OccurredAt)
	b = append(b, byte(i.Type), byte(i.Channel))
	return detect.AppendStrs(b, i.EventID, i.LeadID, i.RepID, i.TeamID, i.ApprovalID, i.ApproverID)
}

// readHeld reads one appendHeld form into i. Its ids are substrings of one
// string per form, one allocation instead of six: a lead kept open keeps
// its event, rep and team ids, most of the form's ~100 bytes anyway.
func readHeld(form []byte, i *schemas.Interaction) error {
	r := detect.NewReader(form)
	*i = schemas.Interaction{OccurredAt: r.Time(), Type: schemas.Type(r.Byte()), Channel: schemas.Channel(r.Byte())}
	head := len(form) - len(r.Rest())
	var ends [6]int
	for k := range ends {
		r.Bytes()
		ends[k] = len(form) - len(r.Rest())
	}
	if err := r.Done(detect.Key{Kind: kindHeld}); err != nil {
		return err
	}
	str := string(form[head:])
	ids := [6]*string{&i.EventID, &i.LeadID, &i.RepID, &i.TeamID, &i.ApprovalID, &i.ApproverID}
	from := 0
	for k, end := range ends {
		end -= head
		_, n := binary.Uvarint(form[head+from:])
		*ids[k] = str[from+n : end]
		from = end
	}
	return nil
}

// skipHeld reads past one appendHeld form without allocating and returns
// its time (unix ms).
func skipHeld(r *detect.Reader) int64 {
	at := r.Time().UnixMilli()
	r.Byte()
	r.Byte()
	for range 6 {
		r.Bytes()
	}
	return at
}

// heldID is the event id of an appendHeld form (its first string), for
// ordering events held at the same millisecond.
func heldID(form []byte) []byte {
	r := detect.NewReader(form)
	r.Varint()
	r.Byte()
	r.Byte()
	return r.Bytes()
}

// heldBatch is what one batch held back (the record kindHeld + its last
// offset), as it was saved: it goes once the progress reached all of it.
// buf is the record's value, the events' forms one after another.
type heldBatch struct {
	events []heldEvent
	buf    []byte
	last   int64 // the latest event time in it
}

// cmpHeld orders held events by time, then event id: the order they are
// applied in, whatever order the upstreams delivered them in.
func cmpHeld(a, b heldEvent) int {
	if c := cmp.Compare(a.at, b.at); c != 0 {
		return c
	}
	return bytes.Compare(heldID(a.form), heldID(b.form))
}

// sortHeld sorts es as cmpHeld orders them, and returns its scratch for
// reuse: by time, packed (timesort.Permute: a batch's due events come
// from many upstreams in no order), then each millisecond's by event id;
// a span of times too wide to pack by cmpHeld.
func sortHeld(es []heldEvent, keys []uint64, tmp []heldEvent) ([]uint64, []heldEvent) {
	tmp = append(tmp[:0], es...)
	keys, ok := timesort.Permute(es, tmp, func(e *heldEvent) int64 { return e.at }, keys)
	clear(tmp)
	if !ok {
		slices.SortFunc(es, cmpHeld)
		return keys, tmp[:0]
	}
	for i := 0; i < len(es); {
		j := i + 1
		for j < len(es) && es[j].at == es[i].at {
			j++
		}
		if j-i > 1 {
			slices.SortFunc(es[i:j], cmpHeld)
		}
		i = j
	}
	return keys, tmp[:0]
}

// curEvent is an event of the batch being applied that was held back: its
// form is curBuf[start:end].
type curEvent struct {
	at         int64
	start, end int
}

// slaPart is one partition's open leads.
type slaPart struct {
	*sla
	p     *detect.Partition
	q     detect.Queue
	leads map[string]*lead
	// teamCals caches the compiled calendar of each team (nil: none, the
	// wall clock), per partition so that workers share no lock.
	teamCals map[string]*calendar.Calendar

	// Events held back until the progress reaches them (Progress mode):
	// this batch's (forms in curBuf, reused from batch to batch), and
	// those of earlier batches by record id. due and later are Reached's
	// scratch.
	cur        []curEvent
	curBuf     []byte
	held       []heldEvent
	batches    map[string]*heldBatch
	due, later []heldEvent
	tmp        schemas.Interaction
	keys       []uint64    // sortHeld's scratch
	sortTmp    []heldEvent // sortHeld's scratch
}

// clock returns the calendar a lead of team on ch counts its SLA in: nil
// for the wall clock (configured, or the team has no calendar).
func (s *slaPart) clock(team string, ch schemas.Channel) *calendar.Calendar {
	if s.cfg.SLA.clockFor(team, ch) != ClockBusiness {
		return nil
	}
	if c, ok := s.teamCals[team]; ok {
		return c
	}
	var c *calendar.Calendar
	if cfg, ok := calendar.Pick(s.cals, team); ok {
		// The team's zone from the org file, as the window's business_s
		// has it: a zone the org file spells wrong is UTC there too.
		orgTZ := ""
		if t := s.idx.Team(team); t != nil {
			orgTZ = t.TimeZone
		}
		var err error
		if c, err = cfg.Compile(orgTZ); err != nil {
			c, _ = cfg.Compile("") // New checked it
		}
	}
	if len(s.teamCals) > 4096 {
		clear(s.teamCals)
	}
	s.teamCals[strings.Clone(team)] = c
	return c
}

// lead is an open lead: triggered (lead.created or an inbound touch) and not
// yet answered (an outbound touch or meeting on it). Only open leads are
// kept: an answer deletes the entry.
type lead struct {
	gen      uint32
	at       time.Time // first unanswered trigger
	event    string    // its event id
	rep      string
	team     string
	ch       schemas.Channel
	sla      time.Duration
	cal      *calendar.Calendar // business clock; nil: wall clock
	breach   *detect.Tracked    // lead_response_sla, nil until it fires
	escalate *detect.Tracked    // lead_response_sla_escalated
	// ackAt is when someone acknowledged the lead's alert (zero: not
	// acknowledged), ackBy who. An acknowledgement before the escalation
	// deadline stops the escalation.
	ackAt time.Time
	ackBy string
}

func (s *slaPart) Apply(i *schemas.Interaction) {
	if !i.OpensLead() && !i.AnswersLead() && !acknowledges(i) {
		return
	}
	if progress, ordered := s.p.Progress(); ordered && i.OccurredAt.After(progress) {
		start := len(s.curBuf)
		s.curBuf = appendHeld(s.curBuf, i)
		s.cur = append(s.cur, curEvent{at: i.OccurredAt.UnixMilli(), start: start, end: len(s.curBuf)})
		return
	}
	s.apply(i)
}

// Reached applies the held events the progress reached, earliest first,
// and saves the batch's others in records of their own.
func (s *slaPart) Reached(progress time.Time, last int64) {
	p := progress.UnixMilli()
	due, keep := s.due[:0], s.held[:0]
	for _, e := range s.held {
		if e.at <= p {
			due = append(due, e)
		} else {
			keep = append(keep, e)
		}
	}
	clear(s.held[len(keep):])
	s.held = keep
	later := s.later[:0]
	for _, c := range s.cur {
		e := heldEvent{at: c.at, form: s.curBuf[c.start:c.end:c.end]}
		if e.at <= p {
			due = append(due, e)
		} else {
			later = append(later, e)
		}
	}
	for id, b := range s.batches {
		if b.last <= p {
			s.p.Touch(kindHeld, id)
			delete(s.batches, id)
		}
	}
	for chunk, rest := uint16(0), later; len(rest) > 0; chunk++ {
		n, size := 0, 0
		for n < len(rest) && (n == 0 || size+len(rest[n].form) <= heldChunk) {
			size += len(rest[n].form)
			n++
		}
		hb := &heldBatch{events: make([]heldEvent, n), buf: make([]byte, 0, size), last: math.MinInt64}
		for k, e := range rest[:n] {
			from := len(hb.buf)
			hb.buf = append(hb.buf, e.form...)
			hb.events[k] = heldEvent{at: e.at, form: hb.buf[from:len(hb.buf):len(hb.buf)]}
			hb.last = max(hb.last, e.at)
		}
		s.held = append(s.held, hb.events...)
		id := string(binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint64(nil, uint64(last)), chunk))
		s.p.Touch(kindHeld, id)
		s.batches[id] = hb
		rest = rest[n:]
	}
	s.keys, s.sortTmp = sortHeld(due, s.keys, s.sortTmp)
	for _, e := range due {
		if readHeld(e.form, &s.tmp) == nil {
			s.apply(&s.tmp)
		}
	}
	// The scratch and this batch's buffer are reused: forget what they
	// point at (due's forms are in curBuf or in dropped batches).
	clear(due)
	clear(later)
	s.due, s.later = due[:0], later[:0]
	s.cur, s.curBuf = s.cur[:0], s.curBuf[:0]
}

// acknowledges reports whether i is someone taking on a lead's alert.
func acknowledges(i *schemas.Interaction) bool {
	return i.LeadID != "" && i.Type == schemas.TypeAlertAcknowledged
}

func (s *slaPart) apply(i *schemas.Interaction) {
	switch {
	case i.OpensLead():
		s.trigger(i)
	case i.AnswersLead(): // includes meeting.held
		s.answer(i)
	case acknowledges(i):
		s.ack(i)
		return
	default:
		return
	}
	s.openLeads.Set(float64(len(s.leads)))
}

func (s *slaPart) trigger(i *schemas.Interaction) {
	if s.cfg.SLA.Disabled {
		return
	}
	s.p.Touch(kindLead, i.LeadID)
	if l, open := s.leads[i.LeadID]; open {
		// Still waiting: the clock runs from the first unanswered touch.
		if l.rep == "" {
			l.rep = i.RepID
		}
		return
	}
	team := s.p.TeamOf(i)
	l := &lead{gen: s.p.NextGen(), at: i.OccurredAt, event: i.EventID, rep: i.RepID, team: team, ch: i.Channel}
	l.sla, l.cal = s.cfg.SLA.slaFor(team, i.Channel), s.clock(team, i.Channel)
	s.leads[i.LeadID] = l
	s.q.Schedule(l.due(l.sla), dlSLA, l.gen, i.LeadID)
	if f := s.cfg.SLA.EscalateFactor; f > 1 {
		s.q.Schedule(l.due(l.escalateAfter(f)), dlEscalate, l.gen, i.LeadID)
	}
}

func (l *lead) escalateAfter(f float64) time.Duration { return time.Duration(float64(l.sla) * f) }

// due is the instant d after the trigger on the lead's clock: on the
// business clock, d of the team's working time.
func (l *lead) due(d time.Duration) time.Time {
	if l.cal != nil {
		return l.cal.Add(l.at, d)
	}
	return l.at.Add(d)
}

func (s *slaPart) Due(dl detect.Deadline) {
	l := s.leads[dl.Key]
	if l == nil || l.gen != dl.Gen {
		return
	}
	s.fire(dl.Key, l, dl.Kind == dlEscalate, dl.At)
}

func (s *slaPart) fire(id string, l *lead, escalated bool, at time.Time) {
	rule, limit := RuleLeadResponseSLA, l.sla
	slot := &l.breach
	if escalated {
		rule, limit, slot = RuleLeadResponseEscalated, l.escalateAfter(s.cfg.SLA.EscalateFactor), &l.escalate
	}
	if *slot != nil {
		return
	}
	if escalated && !l.ackAt.IsZero() && !l.ackAt.After(at) {
		// Acknowledged by the escalation deadline: somebody has the
		// lead, nobody is paged. (An acknowledgement after it fires the
		// escalation first, in ack.)
		return
	}
	s.p.Touch(kindLead, id)
	t := newAlert(rule, id, l.event)
	s.p.Who(t, l.rep, l.team)
	t.Alert.EventIDs = []string{l.event}
	t.Alert.Values = map[string]string{
		"lead_id": id, "channel": l.ch.String(), "triggered_at": ts(l.at),
		"sla": dur(l.sla), "limit": dur(limit),
	}
	of := ""
	if l.cal != nil {
		t.Alert.Values["clock"] = string(ClockBusiness)
		t.Alert.Values["due_at"] = ts(l.due(limit))
		of = " business hours"
	}
	if escalated {
		t.Alert.Summary = "Lead " + id + " (" + l.ch.String() + ") still has no response after " + dur(limit) + of + ", " + pct(s.cfg.SLA.EscalateFactor) + "× the SLA of " + dur(l.sla) + "."
	} else {
		t.Alert.Summary = "Lead " + id + " (" + l.ch.String() + ") had no response within its SLA of " + dur(l.sla) + of + "."
	}
	if !l.ackAt.IsZero() {
		l.ackValues(t)
	}
	*slot = t
	s.p.Emit(t, schemas.AlertFiring, at)
}

// ack records that someone took on the lead's alert. It applies to the
// open lead's current episode only: i.ApprovalID must be the id of its
// breach or escalation alert (ids follow from the rule, the lead and the
// trigger event, so they are known before the alert fires). As answer does,
// it first fires a deadline that passed before the acknowledgement but
// whose alert has not fired yet (the watermark lags), so the outcome does
// not depend on how batches were cut: an acknowledgement after the
// escalation deadline changes only the alerts' values.
func (s *slaPart) ack(i *schemas.Interaction) {
	l := s.leads[i.LeadID]
	if l == nil || i.OccurredAt.Before(l.at) {
		s.acks.WithLabelValues(ackUnknownLead).Inc()
		return
	}
	if i.ApprovalID != detect.AlertID(RuleLeadResponseSLA, i.LeadID, l.event) &&
		i.ApprovalID != detect.AlertID(RuleLeadResponseEscalated, i.LeadID, l.event) {
		s.acks.WithLabelValues(ackOtherAlert).Inc()
		return
	}
	if !l.ackAt.IsZero() {
		s.acks.WithLabelValues(ackRepeated).Inc()
		return
	}
	s.p.Touch(kindLead, i.LeadID)
	fired := [2]*detect.Tracked{l.breach, l.escalate}
	// Set first: an alert fired below carries the values from its start.
	a := i.OccurredAt
	l.ackAt, l.ackBy = a, i.RepID
	if l.ackBy == "" {
		l.ackBy = i.ApproverID
	}
	if d := l.due(l.sla); a.After(d) {
		s.fire(i.LeadID, l, false, d)
	}
	outcome := s.ackOK
	if f := s.cfg.SLA.EscalateFactor; f > 1 {
		if d := l.due(l.escalateAfter(f)); a.After(d) {
			s.fire(i.LeadID, l, true, d)
			outcome = s.acks.WithLabelValues(ackAfterEscalation)
		}
	}
	outcome.Inc()
	for _, t := range fired {
		if t != nil {
			t.Alert.EventIDs = append(t.Alert.EventIDs, i.EventID)
			l.ackValues(t)
			s.p.Update(t)
		}
	}
}

// ackValues adds the acknowledgement to an alert's evidence.
func (l *lead) ackValues(t *detect.Tracked) {
	t.Alert.Values["acknowledged_at"] = ts(l.ackAt)
	t.Alert.Values["acknowledged_by"] = l.ackBy
}

// answer closes the lead. An answer that came after a deadline whose
// alert has not fired yet (the watermark lags by OutOfOrder) fires it first,
// at the deadline, so the rows do not depend on how batches were cut.
func (s *slaPart) answer(i *schemas.Interaction) {
	l := s.leads[i.LeadID]
	if l == nil {
		return
	}
	a := i.OccurredAt
	if a.Before(l.at) {
		return // an answer older than the trigger answers an earlier one
	}
	s.p.Touch(kindLead, i.LeadID)
	if d := l.due(l.sla); a.After(d) {
		s.fire(i.LeadID, l, false, d)
	}
	if f := s.cfg.SLA.EscalateFactor; f > 1 {
		if d := l.due(l.escalateAfter(f)); a.After(d) {
			s.fire(i.LeadID, l, true, d)
		}
	}
	for _, t := range []*detect.Tracked{l.breach, l.escalate} {
		if t != nil {
			t.Alert.EventIDs = append(t.Alert.EventIDs, i.EventID)
			t.Alert.Values["answered_at"] = ts(a)
			t.Alert.Values["response_time"] = dur(a.Sub(l.at))
			if l.cal != nil {
				t.Alert.Values["business_response_time"] = dur(time.Duration(l.cal.BusinessSeconds(l.at, a) * float64(time.Second)))
			}
			s.p.Emit(t, schemas.AlertResolved, a)
		}
	}
	delete(s.leads, i.LeadID)
	rep := i.RepID
	if rep == "" {
		rep = l.rep
	}
	if rep != "" {
		s.p.Observe(RuleResponseOutlier, rep, l.team, a.Sub(l.at).Seconds(), i)
	}
}

func (s *slaPart) Forget(cut time.Time) {
	for id, l := range s.leads {
		if l.at.Before(cut) {
			s.p.Touch(kindLead, id)
			delete(s.leads, id)
			s.p.Forgot()
		}
	}
	s.openLeads.Set(float64(len(s.leads)))
}

// Rebuild queues the deadlines of the restored leads. A deadline popped
// with the lead's generation fired its alert, so a lead without one still
// has that deadline queued. Of the held events restored, those the
// restored progress reached were applied in the batch that saved it.
func (s *slaPart) Rebuild() {
	progress, _ := s.p.Progress()
	p := progress.UnixMilli()
	s.held = s.held[:0]
	for _, hb := range s.batches {
		for _, e := range hb.events {
			if e.at > p {
				s.held = append(s.held, e)
			}
		}
	}
	f := s.cfg.SLA.EscalateFactor
	for id, l := range s.leads {
		if l.breach == nil {
			s.q.Schedule(l.due(l.sla), dlSLA, l.gen, id)
		}
		if f > 1 && l.escalate == nil && l.ackAt.IsZero() {
			s.q.Schedule(l.due(l.escalateAfter(f)), dlEscalate, l.gen, id)
		}
	}
	s.openLeads.Set(float64(len(s.leads)))
}

func (s *slaPart) Encode(b []byte, k detect.Key) ([]byte, bool) {
	if k.Kind == kindHeld {
		hb := s.batches[k.ID]
		if hb == nil {
			return nil, false
		}
		return append(b, hb.buf...), true
	}
	l := s.leads[k.ID]
	if l == nil {
		return nil, false
	}
	b = binary.AppendUvarint(b, uint64(l.gen))
	b = detect.AppendTime(b, l.at)
	b = detect.AppendStrs(b, l.event, l.rep, l.team)
	b = append(b, byte(l.ch))
	b = binary.AppendVarint(b, int64(l.sla))
	b = detect.AppendTracked(b, l.breach)
	b = detect.AppendTracked(b, l.escalate)
	if !l.ackAt.IsZero() {
		// Last and only when set: a lead nobody acknowledged encodes as
		// before the field existed, and Decode reads it only if present.
		b = detect.AppendTime(b, l.ackAt)
		b = detect.AppendStrs(b, l.ackBy)
	}
	return b, true
}

func (s *slaPart) Decode(k detect.Key, r *detect.Reader) error {
	if k.Kind == kindHeld {
		hb := &heldBatch{buf: slices.Clone(r.Rest()), last: math.MinInt64}
		for r.More() {
			from := len(hb.buf) - len(r.Rest())
			at := skipHeld(r)
			to := len(hb.buf) - len(r.Rest())
			hb.events = append(hb.events, heldEvent{at: at, form: hb.buf[from:to:to]})
			hb.last = max(hb.last, at)
		}
		if err := r.Done(k); err != nil {
			return err
		}
		s.batches[k.ID] = hb
		return nil
	}
	l := &lead{gen: uint32(r.Uvarint()), at: r.Time(), event: r.Str(), rep: r.Str(), team: r.Str(), ch: schemas.Channel(r.Byte())}
	l.sla = time.Duration(r.Varint())
	// The clock is not in the record: it follows from the team, channel
	// and configuration, as the SLA of a new lead does.
	l.cal = s.clock(l.team, l.ch)
	l.breach = r.Tracked()
	l.escalate = r.Tracked()
	if r.More() {
		l.ackAt, l.ackBy = r.Time(), r.Str()
		if l.ackAt.IsZero() {
			r.Fail() // written only when set
		}
	}
	if err := r.Done(k); err != nil {
		return err
	}
	s.leads[k.ID] = l
	return nil
}
