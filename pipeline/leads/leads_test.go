package leads

import (
	"context"
	"errors"
	"testing"
	"time"

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
	l, err := New(Config{Hold: 10 * time.Minute}, st, nil, nil)
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
	if want := []string{"L1", "acc-1"}; !equal(lk, want) {
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
	if err := r2.Process(ctx, batch("crm", 4, ev("won", time.Hour, schemas.TypeDealWon, "L1", schemas.ContactKeys{}))); err != nil {
		t.Fatal(err)
	}
	if n := len(st.Sent("salespulse.leads")); n != 1 {
		t.Fatalf("next batch sent %d messages, want 1", n)
	}
	// A replay cut across the forwarded offset is refused, not half-sent.
	r3 := newLeads(t, st).NewRouter()
	err := r3.Process(ctx, batch("crm", 3, b.Interactions[3], b.Interactions[0], b.Interactions[0]))
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
func resolveAll(t *testing.T, st *state.Memory, res *Resolver, first int64, ints ...schemas.Interaction) []schemas.Interaction {
	t.Helper()
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
		if out := resolveAll(t, st, res, 0, lead); len(out) != 0 {
			t.Fatalf("an identity copy was sent on: %+v", out)
		}
		out := resolveAll(t, st, res, 1, call)
		if len(out) != 1 || out[0].LeadID != "L1" || out[0].PairOnly {
			t.Fatalf("got %+v", out)
		}
	})
	t.Run("touch first: sent unresolved, then a pair-only copy to the lead", func(t *testing.T) {
		st := state.NewMemory()
		res := newLeads(t, st).NewResolver()
		out := resolveAll(t, st, res, 0, call)
		if len(out) != 1 || out[0].LeadID != "" {
			t.Fatalf("first: %+v", out)
		}
		// Restart between the two: the waiting touch survives.
		res = newLeads(t, st).NewResolver()
		out = resolveAll(t, st, res, 1, lead)
		if len(out) != 1 || out[0].LeadID != "L1" || !out[0].PairOnly || out[0].EventID != "call" {
			t.Fatalf("after identity: %+v", out)
		}
	})
	t.Run("a touch before the lead existed answers nothing", func(t *testing.T) {
		st := state.NewMemory()
		res := newLeads(t, st).NewResolver()
		early := ev("early", -time.Minute, schemas.TypeCallOutbound, "", phone)
		resolveAll(t, st, res, 0, early)
		if out := resolveAll(t, st, res, 1, lead); len(out) != 0 {
			t.Fatalf("early touch resolved: %+v", out)
		}
	})
	t.Run("the hold ends in event time", func(t *testing.T) {
		st := state.NewMemory()
		res := newLeads(t, st).NewResolver()
		resolveAll(t, st, res, 0, call)
		other := ev("other", 20*time.Minute, schemas.TypeCallOutbound, "", schemas.ContactKeys{Phone: "kX"})
		resolveAll(t, st, res, 1, other)
		if out := resolveAll(t, st, res, 2, lead); len(out) != 0 {
			t.Fatalf("expired touch resolved: %+v", out)
		}
	})
}

func TestResolverPrecedence(t *testing.T) {
	st := state.NewMemory()
	res := newLeads(t, st).NewResolver()
	k := schemas.ContactKeys{Email: "kE"}
	resolveAll(t, st, res, 0,
		ev("l1", 0, schemas.TypeLeadCreated, "L1", k),
		ev("l2", time.Hour, schemas.TypeLeadCreated, "L2", k),
	)
	out := resolveAll(t, st, res, 2,
		ev("m1", 30*time.Minute, schemas.TypeMessageOutbound, "", k),
		ev("m2", 2*time.Hour, schemas.TypeMessageOutbound, "", k),
	)
	if len(out) != 2 || out[0].LeadID != "L1" || out[1].LeadID != "L2" {
		t.Fatalf("got %+v, want m1→L1 (latest identity at or before it), m2→L2", out)
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
	b3 := batch("salespulse.leads", 5, ev("lead2", 3*time.Hour, schemas.TypeLeadCreated, "L2", schemas.ContactKeys{}), lead)
	if err := d2.Process(ctx, b3); err != nil {
		t.Fatal(err)
	}
	if got := ids(b3); !equal(got, []string{"lead2"}) {
		t.Fatalf("third batch kept %v, want lead2 (lead is still remembered within the batch)", got)
	}
	b4 := batch("salespulse.leads", 7, lead)
	if err := d2.Process(ctx, b4); err != nil {
		t.Fatal(err)
	}
	if got := ids(b4); !equal(got, []string{"lead"}) {
		t.Fatalf("fourth batch kept %v, want lead (forgotten past the horizon)", got)
	}
}
