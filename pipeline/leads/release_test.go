package leads

import (
	"context"
	"testing"
	"time"

	"github.com/salespulse/salespulse/pipeline/state"
	"github.com/salespulse/salespulse/schemas"
)

// A partition released (its source gave it up: pipeline.Releaser) leaves
// the stages' memory, and a later batch of it, should it come back, finds
// the state the store holds: the Router does not forward a batch again,
// Dedup still knows the ids, the Resolver still resolves what was pending.
func TestReleasedPartitionComesBackFromTheStore(t *testing.T) {
	ctx := context.Background()
	k := schemas.ContactKeys{Phone: "kP"}
	t.Run("router", func(t *testing.T) {
		st := state.NewMemory()
		r := newLeads(t, st).NewRouter()
		b := batch("crm", 0, ev("lead", 0, schemas.TypeLeadCreated, "L1", k), ev("call", time.Minute, schemas.TypeCallOutbound, "", k))
		if err := r.Process(ctx, b); err != nil {
			t.Fatal(err)
		}
		st.Sent("salespulse.leads")
		st.Sent("salespulse.contacts")
		r.Release("crm", 0)
		if len(r.parts) != 0 {
			t.Fatalf("%d partitions kept after the release", len(r.parts))
		}
		if err := r.Process(ctx, batch("crm", 0, b.Interactions...)); err != nil {
			t.Fatal(err)
		}
		if n := len(st.Sent("salespulse.leads")) + len(st.Sent("salespulse.contacts")); n != 0 {
			t.Fatalf("the batch forwarded again after a release: %d messages", n)
		}
	})
	t.Run("dedup", func(t *testing.T) {
		st := state.NewMemory()
		d := newLeads(t, st).NewDedup(time.Hour)
		lead := ev("lead", 0, schemas.TypeLeadCreated, "L1", schemas.ContactKeys{})
		if err := d.Process(ctx, batch("salespulse.leads", 0, lead)); err != nil {
			t.Fatal(err)
		}
		d.Release("salespulse.leads", 0)
		if len(d.parts) != 0 {
			t.Fatalf("%d partitions kept after the release", len(d.parts))
		}
		b := batch("salespulse.leads", 1, lead, ev("x", time.Minute, schemas.TypeCallOutbound, "L1", schemas.ContactKeys{}))
		if err := d.Process(ctx, b); err != nil {
			t.Fatal(err)
		}
		if len(b.Interactions) != 1 || b.Interactions[0].EventID != "x" {
			t.Fatalf("kept %+v, want x alone (lead is a redelivery)", b.Interactions)
		}
	})
	t.Run("resolver", func(t *testing.T) {
		st := state.NewMemory()
		l, err := New(Config{Hold: 10 * time.Minute}, st, Topology{Partitions: 1, Sources: []string{"crm/0", "aircall/0"}}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		res := l.NewResolver()
		mark := func(id string, at time.Duration) schemas.Interaction {
			return schemas.Interaction{EventID: id, OccurredAt: t0.Add(at), Watermark: true}
		}
		call := ev("call", 3*time.Minute, schemas.TypeCallInbound, "", k)
		if err := res.Process(ctx, batch("salespulse.contacts", 0, ev("l1", 0, schemas.TypeLeadCreated, "L1", k), mark("crm/0", 0),
			call, mark("aircall/0", 3*time.Minute))); err != nil {
			t.Fatal(err)
		}
		if _, pn := res.waitingAll(); pn != 1 {
			t.Fatalf("%d pending, want the call", pn)
		}
		res.Release("salespulse.contacts", 0)
		if _, pn := res.waitingAll(); pn != 0 || len(res.parts) != 0 {
			t.Fatalf("%d pending in %d partitions after the release", pn, len(res.parts))
		}
		if err := res.Process(ctx, batch("salespulse.contacts", 4, mark("crm/0", 5*time.Minute))); err != nil {
			t.Fatal(err)
		}
		if _, out := decoded(t, st.Sent("salespulse.leads")); len(out) != 1 || out[0].EventID != "call" || out[0].LeadID != "L1" {
			t.Fatalf("got %+v, want the call resolved to L1", out)
		}
	})
}
