package leads

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/salespulse/salespulse/pipeline/internal/watermark"
	"github.com/salespulse/salespulse/pipeline/state"
	"github.com/salespulse/salespulse/schemas"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func ev(id string, at time.Duration, typ schemas.Type, lead string, keys schemas.ContactKeys) schemas.Interaction {
	return schemas.Interaction{EventID: id, OccurredAt: t0.Add(at), Source: "test", Type: typ, Channel: typ.DefaultChannel(),
		RepID: "rep-1", LeadID: lead, Keys: keys}
}

func batch(topic string, first int64, ints ...schemas.Interaction) *schemas.Batch {
	b := schemas.NewBatch(schemas.Origin{Topic: topic, Partition: 0, FirstOffset: first, LastOffset: first + int64(len(ints)) - 1}, nil)
	b.Interactions = ints
	return b
}

func newLeads(t *testing.T, st *state.Memory) *Leads {
	t.Helper()
	l, err := New(Config{Hold: 10 * time.Minute}, st, Topology{Partitions: 2, Sources: []string{"crm/0"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// decoded returns the messages sent to topic as interactions, keyed.
func decoded(t *testing.T, msgs []state.Message) (keys []string, out []schemas.Interaction) {
	t.Helper()
	for _, m := range msgs {
		var i schemas.Interaction
		if err := schemas.DecodeWire(&i, m.Value); err != nil {
			t.Fatal(err)
		}
		if i.Watermark {
			continue // progress marks: see TestProgressMarks
		}
		keys = append(keys, string(m.Key))
		out = append(out, i)
	}
	return keys, out
}

func TestRouterRoutesAndSkipsWhatItForwarded(t *testing.T) {
	st := state.NewMemory()
	l := newLeads(t, st)
	r := l.NewRouter()
	ctx := context.Background()
	b := batch("crm", 0,
		ev("lead", 0, schemas.TypeLeadCreated, "L1", schemas.ContactKeys{Email: "kE", Phone: "kP"}),
		ev("upd", time.Minute, schemas.TypeLeadUpdated, "L1", schemas.ContactKeys{Mobile: "kM"}),
		ev("call", 2*time.Minute, schemas.TypeCallOutbound, "", schemas.ContactKeys{Phone: "kP"}),
		ev("quote", 3*time.Minute, schemas.TypeQuoteCreated, "", schemas.ContactKeys{}),
		// An acknowledgement (docs/alerts.md) goes to its lead's partition,
		// where the SLA detector keeps the lead.
		ev("ack", 4*time.Minute, schemas.TypeAlertAcknowledged, "L1", schemas.ContactKeys{}),
	)
	b.Interactions[3].AccountID = "acc-1"
	if err := r.Process(ctx, b); err != nil {
		t.Fatal(err)
	}
	ck, cs := decoded(t, st.Sent("salespulse.contacts"))
	if want := []string{"kE", "kP", "kM", "kP"}; !equal(ck, want) {
		t.Fatalf("contacts keys %v, want %v", ck, want)
	}
	if cs[3].EventID != "call" {
		t.Fatalf("contacts[3] = %s", cs[3].EventID)
	}
	lk, _ := decoded(t, st.Sent("salespulse.leads"))
	if want := []string{"L1", "acc-1", "L1"}; !equal(lk, want) {
		t.Fatalf("leads keys %v, want %v (lead.updated is only an identity)", lk, want)
	}

	// A new instance (restart) gets the same batch again: nothing is sent
	// twice; the next batch is.
	r2 := newLeads(t, st).NewRouter()
	if err := r2.Process(ctx, batch("crm", 0, b.Interactions...)); err != nil {
		t.Fatal(err)
	}
	if n := len(st.Sent("salespulse.leads")) + len(st.Sent("salespulse.contacts")); n != 0 {
		t.Fatalf("replay sent %d messages", n)
	}
	if err := r2.Process(ctx, batch("crm", 5, ev("won", time.Hour, schemas.TypeDealWon, "L1", schemas.ContactKeys{}))); err != nil {
		t.Fatal(err)
	}
	if _, out := decoded(t, st.Sent("salespulse.leads")); len(out) != 1 {
		t.Fatalf("next batch sent %d interactions, want 1", len(out))
	}
	// A replay cut across the forwarded offset is refused, not half-sent.
	r3 := newLeads(t, st).NewRouter()
	err := r3.Process(ctx, batch("crm", 3, b.Interactions[3], b.Interactions[0], b.Interactions[0], b.Interactions[0]))
	if !errors.Is(err, ErrStraddle) {
		t.Fatalf("straddling batch: err = %v", err)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if a[k] != b[k] {
			return false
		}
	}
	return true
}

// resolve feeds the contacts partition through a Resolver and returns
// what reached the leads topic.
// nextOffset is the next offset of each test's contacts partition.
var nextOffset = map[*state.Memory]int64{}

// resolveAll feeds ints as the partition's next batch.
func resolveAll(t *testing.T, st *state.Memory, res *Resolver, ints ...schemas.Interaction) []schemas.Interaction {
	t.Helper()
	first := nextOffset[st]
	// As a router would: the batch's events, then its progress mark.
	var maxT time.Time
	for _, i := range ints {
		if i.OccurredAt.After(maxT) {
			maxT = i.OccurredAt
		}
	}
	ints = append(ints, schemas.Interaction{EventID: "crm/0", OccurredAt: maxT, Watermark: true})
	nextOffset[st] = first + int64(len(ints))
	if err := res.Process(context.Background(), batch("salespulse.contacts", first, ints...)); err != nil {
		t.Fatal(err)
	}
	_, out := decoded(t, st.Sent("salespulse.leads"))
	return out
}

func TestResolverPairsInBothDeliveryOrders(t *testing.T) {
	phone := schemas.ContactKeys{Phone: "kP"}
	lead := ev("lead", 0, schemas.TypeLeadCreated, "L1", schemas.ContactKeys{Email: "kE", Phone: "kP"})
	call := ev("call", 3*time.Minute, schemas.TypeCallOutbound, "", phone)

	t.Run("identity first: the touch goes to its lead", func(t *testing.T) {
		st := state.NewMemory()
		res := newLeads(t, st).NewResolver()
		if out := resolveAll(t, st, res, lead); len(out) != 0 {
			t.Fatalf("an identity copy was sent on: %+v", out)
		}
		out := resolveAll(t, st, res, call)
		if len(out) != 1 || out[0].LeadID != "L1" || out[0].PairOnly {
			t.Fatalf("got %+v", out)
		}
	})
	t.Run("touch first: sent unresolved, then a pair-only copy to the lead", func(t *testing.T) {
		st := state.NewMemory()
		res := newLeads(t, st).NewResolver()
		out := resolveAll(t, st, res, call)
		if len(out) != 1 || out[0].LeadID != "" {
			t.Fatalf("first: %+v", out)
		}
		// Restart between the two: the waiting touch survives.
		res = newLeads(t, st).NewResolver()
		out = resolveAll(t, st, res, lead)
		if len(out) != 1 || out[0].LeadID != "L1" || !out[0].PairOnly || out[0].EventID != "call" {
			t.Fatalf("after identity: %+v", out)
		}
	})
	t.Run("a touch before the lead existed answers nothing", func(t *testing.T) {
		st := state.NewMemory()
		res := newLeads(t, st).NewResolver()
		early := ev("early", -time.Minute, schemas.TypeCallOutbound, "", phone)
		resolveAll(t, st, res, early)
		if out := resolveAll(t, st, res, lead); len(out) != 0 {
			t.Fatalf("early touch resolved: %+v", out)
		}
	})
	t.Run("the hold ends in event time", func(t *testing.T) {
		st := state.NewMemory()
		res := newLeads(t, st).NewResolver()
		resolveAll(t, st, res, call)
		other := ev("other", 20*time.Minute, schemas.TypeCallOutbound, "", schemas.ContactKeys{Phone: "kX"})
		resolveAll(t, st, res, other)
		if out := resolveAll(t, st, res, lead); len(out) != 0 {
			t.Fatalf("expired touch resolved: %+v", out)
		}
	})
}

func TestResolverPrecedence(t *testing.T) {
	st := state.NewMemory()
	res := newLeads(t, st).NewResolver()
	k := schemas.ContactKeys{Email: "kE"}
	resolveAll(t, st, res,
		ev("l1", 0, schemas.TypeLeadCreated, "L1", k),
		ev("l2", time.Hour, schemas.TypeLeadCreated, "L2", k),
	)
	out := resolveAll(t, st, res,
		ev("m1", 30*time.Minute, schemas.TypeMessageOutbound, "", k),
		ev("m2", 2*time.Hour, schemas.TypeMessageOutbound, "", k),
	)
	if len(out) != 2 || out[0].LeadID != "L1" || out[1].LeadID != "L2" {
		t.Fatalf("got %+v, want m1→L1 (latest identity at or before it), m2→L2", out)
	}
}

// TestResolverResolveIdle: a touch waits for a CRM partition that had
// consumed all its input only leads.resolve_idle (send times), not
// leads.idle_timeout; one that lags behind its input it waits for; with
// resolve_idle negative it waits as before. A restart after the touch was
// resolved does not resolve it again (the progress record keeps resT).
func TestResolverResolveIdle(t *testing.T) {
	k := schemas.ContactKeys{Phone: "kP"}
	l1 := ev("l1", 0, schemas.TypeLeadCreated, "L1", k)
	call := ev("call", 3*time.Minute, schemas.TypeCallInbound, "", k)
	call2 := ev("call2", 10*time.Minute, schemas.TypeCallInbound, "", k)
	sent := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	mark := func(id string, at time.Duration, end bool, after time.Duration) schemas.Interaction {
		m := schemas.Interaction{EventID: id, OccurredAt: t0.Add(at), Watermark: true, SentAt: sent.Add(after)}
		if end {
			m.Stage = schemas.WatermarkAtEnd
		}
		return m
	}
	for _, c := range []struct {
		name     string
		idle     time.Duration
		crmAtEnd bool
		want     [][]string // the touches sent, after each batch
	}{
		{"a caught-up CRM partition is waited for 2s", 0, true,
			[][]string{nil, nil, {"call"}, {"call"}, {"call"}, {"call", "call2"}}},
		// Restored, a partition is taken for caught up after idle_timeout
		// of silence (watermark.Upstreams.Restore), as before.
		{"a lagging CRM partition is waited for", 0, false, [][]string{nil, nil, nil, nil, nil, {"call", "call2"}}},
		{"resolve_idle negative: waited for idle_timeout", -time.Second, true, [][]string{nil, nil, nil, nil, nil, {"call", "call2"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := state.NewMemory()
			newRes := func() *Resolver {
				l, err := New(Config{Hold: 10 * time.Minute, ResolveIdle: c.idle}, st, Topology{Partitions: 1, Sources: []string{"crm/0", "aircall/0"}}, nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				return l.NewResolver()
			}
			res := newRes()
			batches := [][]schemas.Interaction{
				{l1, mark("crm/0", 0, c.crmAtEnd, 0)},
				{call, call2, mark("aircall/0", 3*time.Minute, true, time.Second)}, // crm/0 quiet 1s: both pending, one record
				{mark("aircall/0", 5*time.Minute, true, 3*time.Second)},            // quiet 3s: call resolved, call2 not
				{mark("aircall/0", 6*time.Minute, true, 4*time.Second)},            // after a restart: call not again
				// A restored upstream may have been lagging: it is waited for
				// idle_timeout, counted from the first mark after the
				// restart (watermark.Upstreams.Restore), not resolve_idle.
				{mark("aircall/0", 11*time.Minute, true, 7*time.Second)},
				{mark("aircall/0", 12*time.Minute, true, 5*time.Minute+5*time.Second)},
			}
			var off int64
			var out []string // every touch sent so far (Sent drains)
			for n, ints := range batches {
				if n == 3 {
					res = newRes()
				}
				if err := res.Process(context.Background(), batch("salespulse.contacts", off, slices.Clone(ints)...)); err != nil {
					t.Fatal(err)
				}
				off += int64(len(ints))
				_, sent := decoded(t, st.Sent("salespulse.leads"))
				for _, i := range sent {
					if i.LeadID != "L1" {
						t.Fatalf("%s resolved to %q, want L1", i.EventID, i.LeadID)
					}
					out = append(out, i.EventID)
				}
				if !slices.Equal(out, c.want[n]) {
					t.Fatalf("after batch %d: %v sent, want %v", n, out, c.want[n])
				}
			}
		})
	}
	cfg := Config{ResolveIdle: 10 * time.Minute}
	cfg.SetDefaults()
	if err := cfg.Validate(0, 0); !errors.Is(err, ErrResolveIdle) {
		t.Fatalf("resolve_idle above idle_timeout: %v", err)
	}
}

// TestResolverCustomers: a touch resolved to an existing customer's
// contact (a Salesforce Contact, schemas.Interaction.Customer) carries
// Customer, so the stages open and answer no lead with it
// (docs/leads.md); a touch of the same number before the contact existed
// is still its lead's. The flag survives a restart (the identity table's
// records) and reaches pair-only copies.
func TestResolverCustomers(t *testing.T) {
	k := schemas.ContactKeys{Phone: "kP"}
	lead := ev("lead", 0, schemas.TypeLeadCreated, "00QL1", k)
	contact := ev("contact", time.Hour, schemas.TypeLeadUpdated, "003C1", k) // the conversion's Contact
	contact.Customer = true
	before := ev("before", 30*time.Minute, schemas.TypeCallInbound, "", k)
	after := ev("after", 2*time.Hour, schemas.TypeCallInbound, "", k)

	st := state.NewMemory()
	res := newLeads(t, st).NewResolver()
	resolveAll(t, st, res, lead, contact)
	res = newLeads(t, st).NewResolver() // restored from the identity records
	out := resolveAll(t, st, res, before, after)
	if len(out) != 2 || out[0].LeadID != "00QL1" || out[0].Customer || out[1].LeadID != "003C1" || !out[1].Customer {
		t.Fatalf("got %+v, want before→00QL1 (a lead's), after→003C1 (a customer's)", out)
	}

	st = state.NewMemory()
	res = newLeads(t, st).NewResolver()
	later := ev("later", 3*time.Hour, schemas.TypeCallInbound, "", schemas.ContactKeys{Email: "kE"})
	resolveAll(t, st, res, later)
	c := ev("c", 2*time.Hour, schemas.TypeLeadUpdated, "003C2", schemas.ContactKeys{Email: "kE"})
	c.Customer = true
	out = resolveAll(t, st, res, c)
	if len(out) != 1 || !out[0].PairOnly || out[0].LeadID != "003C2" || !out[0].Customer {
		t.Fatalf("pair-only copy %+v, want one to 003C2 marked Customer", out)
	}
}

// TestIdentsForms: the identity table's records round-trip in both forms,
// and a record written before customers existed reads as leads.
func TestIdentsForms(t *testing.T) {
	for _, ids := range [][]ident{
		{{At: t0.UnixMilli(), Lead: "00QL1"}},
		{{At: t0.UnixMilli(), Lead: "00QL1"}, {At: t0.Add(time.Hour).UnixMilli(), Lead: "003C1", Customer: true}},
		{{At: -5, Lead: "before 1970"}, {At: 7, Lead: "x", Customer: true}},
	} {
		got, err := decodeIdents(encodeIdents(ids))
		if err != nil || !slices.Equal(got, ids) {
			t.Errorf("round trip of %+v: %+v, %v", ids, got, err)
		}
	}
	// The plain form as the build before wrote it: At, length, id.
	old := append([]byte{0, 0, 1, 0x9d, 0x5f, 0x8c, 0x35, 0x40}, append([]byte{5}, "00QL1"...)...)
	got, err := decodeIdents(old)
	if err != nil || len(got) != 1 || got[0].Lead != "00QL1" || got[0].Customer {
		t.Fatalf("an old record reads %+v, %v", got, err)
	}
	if _, err := decodeIdents([]byte{identsCustomer, 0, 0, 0}); err == nil {
		t.Fatal("a truncated customer record decoded")
	}
}

func TestDedupDropsRedeliveriesButNotItsOwnReplay(t *testing.T) {
	st := state.NewMemory()
	l := newLeads(t, st)
	ctx := context.Background()
	ids := func(b *schemas.Batch) (out []string) {
		for _, i := range b.Interactions {
			out = append(out, i.EventID)
		}
		return out
	}
	d := l.NewDedup(time.Hour)
	call := ev("call", time.Minute, schemas.TypeCallOutbound, "L1", schemas.ContactKeys{})
	lead := ev("lead", 0, schemas.TypeLeadCreated, "L1", schemas.ContactKeys{})
	b1 := batch("salespulse.leads", 0, lead, call)
	if err := d.Process(ctx, b1); err != nil {
		t.Fatal(err)
	}
	pair := call
	pair.PairOnly = true
	b2 := batch("salespulse.leads", 2, lead, pair, ev("x", 2*time.Minute, schemas.TypeCallOutbound, "L1", schemas.ContactKeys{}))
	if err := d.Process(ctx, b2); err != nil {
		t.Fatal(err)
	}
	if got := ids(b2); !equal(got, []string{"call", "x"}) {
		t.Fatalf("second batch kept %v, want the pair-only copy and x (lead is a redelivery)", got)
	}
	// A restart that redelivers the second batch (its window state was
	// not saved): its events are not copies of themselves.
	d2 := newLeads(t, st).NewDedup(time.Hour)
	b2again := batch("salespulse.leads", 2, lead, pair, ev("x", 2*time.Minute, schemas.TypeCallOutbound, "L1", schemas.ContactKeys{}))
	if err := d2.Process(ctx, b2again); err != nil {
		t.Fatal(err)
	}
	if got := ids(b2again); !equal(got, []string{"call", "x"}) {
		t.Fatalf("redelivered batch kept %v, want call (pair-only) and x", got)
	}
	// The ids are forgotten once the horizon passed in event time (the
	// window finds such a copy late anyway).
	mark := func(id string) schemas.Interaction {
		return schemas.Interaction{EventID: id, OccurredAt: t0.Add(3 * time.Hour), Watermark: true}
	}
	// Every upstream of a leads partition must report (the source
	// partition and both contacts partitions) before its time moves.
	b3 := batch("salespulse.leads", 5, ev("lead2", 3*time.Hour, schemas.TypeLeadCreated, "L2", schemas.ContactKeys{}), lead,
		mark("crm/0"), mark("salespulse.contacts/0"), mark("salespulse.contacts/1"))
	if err := d2.Process(ctx, b3); err != nil {
		t.Fatal(err)
	}
	if got := ids(b3); !equal(got, []string{"lead2", "crm/0", "salespulse.contacts/0", "salespulse.contacts/1"}) {
		t.Fatalf("third batch kept %v, want lead2 (lead is still remembered within the batch)", got)
	}
	b4 := batch("salespulse.leads", 10, lead)
	if err := d2.Process(ctx, b4); err != nil {
		t.Fatal(err)
	}
	if got := ids(b4); !equal(got, []string{"lead"}) {
		t.Fatalf("fourth batch kept %v, want lead (forgotten past the horizon)", got)
	}
}

func TestProgressMarks(t *testing.T) {
	st := state.NewMemory()
	l := newLeads(t, st)
	ctx := context.Background()
	r := l.NewRouter()
	if err := r.Process(ctx, batch("crm", 0, ev("a", time.Hour, schemas.TypeCallOutbound, "L1", schemas.ContactKeys{}),
		ev("b", time.Minute, schemas.TypeCallOutbound, "L1", schemas.ContactKeys{}))); err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{"salespulse.leads", "salespulse.contacts"} {
		var parts []int32
		for _, m := range st.Sent(topic) {
			var i schemas.Interaction
			if err := schemas.DecodeWire(&i, m.Value); err != nil {
				t.Fatal(err)
			}
			if !i.Watermark {
				continue
			}
			if m.Key != nil || i.EventID != "crm/0" || !i.OccurredAt.Equal(t0.Add(time.Hour)) {
				t.Fatalf("%s: mark %+v key %q", topic, i, m.Key)
			}
			parts = append(parts, m.Partition)
		}
		if len(parts) != 2 || parts[0] != 0 || parts[1] != 1 {
			t.Fatalf("%s: marks to partitions %v, want every partition [0 1]", topic, parts)
		}
	}

	// The resolver's progress is its slowest upstream's: a touch of a
	// fast upstream does not expire a slow one's waiting touch.
	res := l.NewResolver()
	mark := func(id string, at time.Duration) schemas.Interaction {
		return schemas.Interaction{EventID: id, OccurredAt: t0.Add(at), Watermark: true}
	}
	call := ev("call", 0, schemas.TypeCallOutbound, "", schemas.ContactKeys{Phone: "kP"})
	if err := res.Process(ctx, batch("salespulse.contacts", 0, call, mark("aircall/0", 0), mark("crm/0", 0))); err != nil {
		t.Fatal(err)
	}
	st.Sent("salespulse.leads")
	if err := res.Process(ctx, batch("salespulse.contacts", 3, mark("aircall/0", 5*time.Hour))); err != nil {
		t.Fatal(err)
	}
	lead := ev("lead", -time.Minute, schemas.TypeLeadCreated, "L9", schemas.ContactKeys{Phone: "kP"})
	if err := res.Process(ctx, batch("salespulse.contacts", 4, lead, mark("crm/0", 0))); err != nil {
		t.Fatal(err)
	}
	_, out := decoded(t, st.Sent("salespulse.leads"))
	if len(out) != 1 || !out[0].PairOnly || out[0].LeadID != "L9" {
		t.Fatalf("got %+v, want the waiting call resolved to L9 (crm/0 is still at 0)", out)
	}
}

// TestRouterBroadcastsAccountOwnership: an account.updated reaches every
// leads partition (the market-signal matcher keeps the whole directory in
// each, docs/signals.md); a signal goes by its route key like any event.
func TestRouterBroadcastsAccountOwnership(t *testing.T) {
	st := state.NewMemory()
	r := newLeads(t, st).NewRouter()
	acc := ev("acc", 0, schemas.TypeAccountUpdated, "", schemas.ContactKeys{})
	acc.AccountID = "acc-9"
	sig := ev("sig", time.Minute, schemas.TypeAccountSignal, "", schemas.ContactKeys{})
	sig.RepID = ""
	if err := r.Process(context.Background(), batch("crm", 0, acc, sig)); err != nil {
		t.Fatal(err)
	}
	var parts []int32
	var keys []string
	for _, m := range st.Sent("salespulse.leads") {
		var i schemas.Interaction
		if err := schemas.DecodeWire(&i, m.Value); err != nil {
			t.Fatal(err)
		}
		switch {
		case i.Watermark:
		case i.EventID == "acc":
			if m.Key != nil {
				t.Fatalf("broadcast copy keyed %q", m.Key)
			}
			parts = append(parts, m.Partition)
		default:
			keys = append(keys, string(m.Key))
		}
	}
	if len(parts) != 2 || parts[0] != 0 || parts[1] != 1 {
		t.Fatalf("account.updated went to partitions %v, want [0 1]", parts)
	}
	if !equal(keys, []string{"sig"}) {
		t.Fatalf("signal keys %v", keys)
	}
}

// TestResolverAnswersDoNotDependOnTopicPace: the source topics are
// consumed at their own paces, so the contacts partition can see a call
// before a CRM identity that precedes it in event time. A touch is
// resolved once every upstream has reached its time, so both orders, and
// a restart while it is pending, give the same lead. Resolved on arrival,
// the call went to L1 when it overtook L2's identity: two drains of one
// input stored ~18 % of the vendor scenario's response facts differently.
func TestResolverAnswersDoNotDependOnTopicPace(t *testing.T) {
	k := schemas.ContactKeys{Phone: "kP"}
	l1 := ev("l1", 0, schemas.TypeLeadCreated, "L1", k)
	l2 := ev("l2", 2*time.Minute, schemas.TypeLeadCreated, "L2", k)
	call := ev("call", 3*time.Minute, schemas.TypeCallInbound, "", k)
	mark := func(id string, at time.Duration) schemas.Interaction {
		return schemas.Interaction{EventID: id, OccurredAt: t0.Add(at), Watermark: true}
	}
	newRes := func(st *state.Memory) *Resolver {
		l, err := New(Config{Hold: 10 * time.Minute}, st, Topology{Partitions: 1, Sources: []string{"crm/0", "aircall/0"}}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return l.NewResolver()
	}
	run := func(t *testing.T, restart bool, batches ...[]schemas.Interaction) []schemas.Interaction {
		st := state.NewMemory()
		res := newRes(st)
		var off int64
		for n, ints := range batches {
			if restart && n == len(batches)-1 {
				res = newRes(st)
			}
			// A copy: the resolver sets a resolved touch's lead in place.
			if err := res.Process(context.Background(), batch("salespulse.contacts", off, slices.Clone(ints)...)); err != nil {
				t.Fatal(err)
			}
			off += int64(len(ints))
		}
		_, out := decoded(t, st.Sent("salespulse.leads"))
		saved, err := st.Load(context.Background(), state.Resolve, "salespulse.contacts", 0)
		if err != nil {
			t.Fatal(err)
		}
		for key := range saved {
			if key[0] == kindPending {
				t.Errorf("pending record %x left after every touch was resolved", key)
			}
		}
		return out
	}
	orders := map[string][][]schemas.Interaction{
		"identities first": {
			{l1, l2, mark("crm/0", 2*time.Minute)},
			{call, mark("aircall/0", 3*time.Minute)},
			{mark("crm/0", 5*time.Minute)},
		},
		"the call overtakes L2": {
			{l1, mark("crm/0", 0)},
			{call, mark("aircall/0", 3*time.Minute)},
			{l2, mark("crm/0", 5*time.Minute)},
		},
		"all in one batch, call first": {
			{l1, call, mark("aircall/0", 3*time.Minute), l2, mark("crm/0", 5*time.Minute)},
		},
	}
	for name, batches := range orders {
		for _, restart := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/restart=%v", name, restart), func(t *testing.T) {
				out := run(t, restart, batches...)
				if len(out) != 1 || out[0].EventID != "call" || out[0].LeadID != "L2" || out[0].PairOnly {
					t.Fatalf("got %+v, want the call resolved to L2 (the latest identity at or before it)", out)
				}
			})
		}
	}
	t.Run("a restart resolves only what is still pending", func(t *testing.T) {
		st := state.NewMemory()
		res := newRes(st)
		call2 := ev("call2", 6*time.Minute, schemas.TypeCallInbound, "", k)
		var off int64
		feed := func(ints ...schemas.Interaction) {
			t.Helper()
			if err := res.Process(context.Background(), batch("salespulse.contacts", off, ints...)); err != nil {
				t.Fatal(err)
			}
			off += int64(len(ints))
		}
		// Both pending, in one record; the first is resolved, the record
		// stays for the second; a restart must not resolve the first again.
		feed(l1, mark("crm/0", 0), call, call2, mark("aircall/0", 6*time.Minute))
		feed(mark("crm/0", 4*time.Minute))
		res = newRes(st)
		feed(mark("crm/0", 7*time.Minute))
		_, out := decoded(t, st.Sent("salespulse.leads"))
		if len(out) != 2 || out[0].EventID != "call" || out[1].EventID != "call2" || out[0].LeadID != "L1" || out[1].LeadID != "L1" {
			t.Fatalf("got %+v, want call then call2, each once, to L1", out)
		}
	})
	t.Run("a catch-up's pending touches are saved in chunks", func(t *testing.T) {
		st := state.NewMemory()
		res := newRes(st)
		const n = 3000 // ~100 bytes of wire each: two chunks
		ints := []schemas.Interaction{l1, mark("crm/0", 0)}
		for x := range n {
			ints = append(ints, ev(fmt.Sprintf("c%04d", x), 3*time.Minute+time.Duration(x)*time.Millisecond, schemas.TypeCallInbound, "", k))
		}
		ints = append(ints, mark("aircall/0", 4*time.Minute))
		if err := res.Process(context.Background(), batch("salespulse.contacts", 0, ints...)); err != nil {
			t.Fatal(err)
		}
		saved, err := st.Load(context.Background(), state.Resolve, "salespulse.contacts", 0)
		if err != nil {
			t.Fatal(err)
		}
		chunks := 0
		for key, v := range saved {
			if key[0] == kindPending {
				chunks++
				if len(v) > pendChunk+1024 {
					t.Errorf("record %x holds %d bytes", key, len(v))
				}
			}
		}
		if chunks < 2 {
			t.Fatalf("%d pending records, want the batch's touches split into chunks", chunks)
		}
		res = newRes(st) // a restart: every touch comes back from the chunks
		if err := res.Process(context.Background(), batch("salespulse.contacts", int64(len(ints)), mark("crm/0", 5*time.Minute))); err != nil {
			t.Fatal(err)
		}
		if _, out := decoded(t, st.Sent("salespulse.leads")); len(out) != n {
			t.Fatalf("%d touches resolved after the restart, want %d", len(out), n)
		}
		saved, _ = st.Load(context.Background(), state.Resolve, "salespulse.contacts", 0)
		for key := range saved {
			if key[0] == kindPending {
				t.Fatalf("pending record %x left", key)
			}
		}
	})
	t.Run("a tick releases what a stopped stream left pending", func(t *testing.T) {
		st := state.NewMemory()
		res := newRes(st)
		if err := res.Process(context.Background(), batch("salespulse.contacts", 0, l1, mark("crm/0", 0), call, mark("aircall/0", 3*time.Minute))); err != nil {
			t.Fatal(err)
		}
		if err := res.Process(context.Background(), batch("salespulse.contacts", 4, mark(watermark.TickID, 4*time.Minute))); err != nil {
			t.Fatal(err)
		}
		var got []schemas.Interaction
		var relayed bool
		for _, m := range st.Sent("salespulse.leads") {
			var i schemas.Interaction
			if err := schemas.DecodeWire(&i, m.Value); err != nil {
				t.Fatal(err)
			}
			switch {
			case !i.Watermark:
				if relayed {
					t.Fatalf("%s sent after the mark that relays the tick", i.EventID)
				}
				got = append(got, i)
			case i.OccurredAt.Equal(t0.Add(4 * time.Minute)):
				relayed = true
			}
		}
		if len(got) != 1 || got[0].EventID != "call" || got[0].LeadID != "L1" || !relayed {
			t.Fatalf("got %+v (tick relayed: %v), want the call resolved to L1, then a mark at the tick", got, relayed)
		}
	})
	t.Run("pending until every upstream reached it", func(t *testing.T) {
		st := state.NewMemory()
		res := newRes(st)
		if err := res.Process(context.Background(), batch("salespulse.contacts", 0, l1, mark("crm/0", 0), call, mark("aircall/0", 3*time.Minute))); err != nil {
			t.Fatal(err)
		}
		if _, out := decoded(t, st.Sent("salespulse.leads")); len(out) != 0 {
			t.Fatalf("sent %+v before crm/0 reached the call's time", out)
		}
		if _, pn := res.waitingAll(); pn != 1 {
			t.Fatalf("%d pending, want 1", pn)
		}
	})
}

// Touches pending for the progress are resolved in event-time order, ties
// by event id, whether they wait in memory or come back from their state
// record after a restart: the leads topic gets the same order either way.
func TestResolverPendingOrder(t *testing.T) {
	k1, k2 := schemas.ContactKeys{Phone: "k1"}, schemas.ContactKeys{Phone: "k2"}
	mark := func(at time.Duration) schemas.Interaction {
		return schemas.Interaction{EventID: "crm/0", OccurredAt: t0.Add(at), Watermark: true}
	}
	for _, restart := range []bool{false, true} {
		st := state.NewMemory()
		newRes := func() *Resolver {
			l, err := New(Config{Hold: 10 * time.Minute, ResolveIdle: -1}, st, Topology{Partitions: 1, Sources: []string{"crm/0"}}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			return l.NewResolver()
		}
		res := newRes()
		batches := [][]schemas.Interaction{
			{ev("l1", 0, schemas.TypeLeadCreated, "L1", k1), ev("l2", 0, schemas.TypeLeadCreated, "L2", k2), mark(0)},
			// The progress is behind all three: pending, in one record.
			{ev("t-c", time.Minute, schemas.TypeCallInbound, "", k1), ev("t-b", time.Minute, schemas.TypeCallInbound, "", k2),
				ev("t-a", 2*time.Minute, schemas.TypeCallInbound, "", k1), mark(0)},
			{ev("t-0", time.Minute, schemas.TypeCallInbound, "", k2), mark(0)},
			{mark(3 * time.Minute)},
		}
		var off int64
		for n, ints := range batches {
			if restart && n == len(batches)-1 {
				res = newRes()
			}
			if err := res.Process(context.Background(), batch("salespulse.contacts", off, slices.Clone(ints)...)); err != nil {
				t.Fatal(err)
			}
			off += int64(len(ints))
		}
		_, sent := decoded(t, st.Sent("salespulse.leads"))
		var got []string
		for _, i := range sent {
			if i.Type == schemas.TypeCallInbound {
				got = append(got, i.EventID+">"+i.LeadID)
			}
		}
		if want := []string{"t-0>L2", "t-b>L2", "t-c>L1", "t-a>L1"}; !slices.Equal(got, want) {
			t.Errorf("restart=%v: resolved %q, want %q", restart, got, want)
		}
	}
}

// A nudge (written once a stream went quiet) resolves the touches at or
// before its time though no upstream's mark reached them, moves no
// progress the resolver relays, and is ignored with resolve_idle off.
func TestResolverNudge(t *testing.T) {
	k := schemas.ContactKeys{Phone: "kP"}
	mark := schemas.Interaction{EventID: "crm/0", OccurredAt: t0, Watermark: true, Stage: schemas.WatermarkAtEnd}
	nudge := func(at time.Duration) schemas.Interaction {
		return schemas.Interaction{EventID: NudgeID, OccurredAt: t0.Add(at), Watermark: true, Stage: schemas.WatermarkAtEnd}
	}
	for _, c := range []struct {
		name string
		idle time.Duration
		want []string // the touches each batch sent (Sent drains)
	}{
		{"resolve_idle on", 0, []string{"", "call>L1", ""}},
		{"resolve_idle off", -1, []string{"", "", ""}},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := state.NewMemory()
			newRes := func() *Resolver {
				l, err := New(Config{Hold: 10 * time.Minute, ResolveIdle: c.idle}, st, Topology{Partitions: 1, Sources: []string{"crm/0"}}, nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				return l.NewResolver()
			}
			res := newRes()
			batches := [][]schemas.Interaction{
				{ev("l1", 0, schemas.TypeLeadCreated, "L1", k), ev("call", time.Minute, schemas.TypeCallInbound, "", k), mark},
				{nudge(2 * time.Minute)},
				{mark}, // after a restart: not sent again
			}
			var off int64
			for n, ints := range batches {
				if n == 2 {
					res = newRes()
				}
				if err := res.Process(context.Background(), batch("salespulse.contacts", off, slices.Clone(ints)...)); err != nil {
					t.Fatal(err)
				}
				off += int64(len(ints))
				var got []string
				for _, m := range st.Sent("salespulse.leads") {
					var i schemas.Interaction
					if err := schemas.DecodeWire(&i, m.Value); err != nil {
						t.Fatal(err)
					}
					switch {
					case i.Watermark && i.OccurredAt.After(t0):
						t.Fatalf("batch %d: relayed progress %s: the nudge moved it", n, i.OccurredAt)
					case i.Type == schemas.TypeCallInbound:
						got = append(got, i.EventID+">"+i.LeadID)
					}
				}
				if g := strings.Join(got, ","); g != c.want[n] {
					t.Errorf("after batch %d: sent %q, want %q", n, g, c.want[n])
				}
			}
		})
	}
}
