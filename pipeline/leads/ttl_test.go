package leads

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/salespulse/salespulse/pipeline/state"
	"github.com/salespulse/salespulse/schemas"
)

// An identity reaches touches for leads.identity_ttl of event time: a
// touch later than that is not its lead's, and once the partition's
// progress is that far past it, the identity is forgotten in memory and
// deleted from the store, so a restore does not bring it back.
func TestIdentityTTL(t *testing.T) {
	const ttl = 2 * time.Hour
	st := state.NewMemory()
	l, err := New(Config{Hold: 10 * time.Minute, IdentityTTL: ttl}, st, Topology{Partitions: 2, Sources: []string{"crm/0"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	res := l.NewResolver()
	kE, kP := schemas.ContactKeys{Email: "kE"}, schemas.ContactKeys{Phone: "kP"}
	resolveAll(t, st, res, ev("l1", 0, schemas.TypeLeadCreated, "L1", kE), ev("l2", 90*time.Minute, schemas.TypeLeadCreated, "L2", kP))
	out := resolveAll(t, st, res,
		ev("in-ttl", ttl, schemas.TypeMessageOutbound, "", kE),
		ev("past-ttl", ttl+time.Minute, schemas.TypeMessageOutbound, "", kE),
	)
	if len(out) != 2 || out[0].LeadID != "L1" || out[1].LeadID != "" {
		t.Fatalf("got %+v, want in-ttl→L1 and past-ttl unresolved (L1's identity %s old)", out, ttl+time.Minute)
	}
	// Progress far enough past L1's identity for a sweep: forgotten, and
	// its record deleted; L2's (90 minutes later) is kept.
	resolveAll(t, st, res, ev("later", ttl+40*time.Minute, schemas.TypeMessageOutbound, "", schemas.ContactKeys{Email: "kX"}))
	p := res.parts[partKey{"salespulse.contacts", 0}]
	if _, ok := p.ids["kE"]; ok {
		t.Fatalf("L1's identity still held: %+v", p.ids)
	}
	if _, ok := p.ids["kP"]; !ok {
		t.Fatal("L2's identity forgotten before its TTL")
	}
	saved, err := st.Load(context.Background(), state.Resolve, "salespulse.contacts", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := saved[string(kindIdent)+"kE"]; ok {
		t.Fatal("the forgotten identity's record is still in the store")
	}
	if _, ok := saved[string(kindIdent)+"kP"]; !ok {
		t.Fatal("the kept identity's record is gone")
	}
	for _, c := range []struct {
		hold, ttl, leadExpiry time.Duration
		ok                    bool
	}{
		{time.Hour, 30 * time.Minute, 0, false},         // below leads.hold
		{time.Minute, time.Hour, 24 * time.Hour, false}, // below window.lead_expiry
		{time.Minute, 24 * time.Hour, 24 * time.Hour, true},
		{time.Minute, -1, 24 * time.Hour, true}, // never forget
	} {
		cfg := Config{Hold: c.hold, IdentityTTL: c.ttl}
		cfg.SetDefaults()
		if err := cfg.Validate(0, c.leadExpiry); (err == nil) != c.ok || err != nil && !errors.Is(err, ErrIdentityTTL) {
			t.Errorf("hold %s, identity_ttl %s, lead_expiry %s: %v", c.hold, c.ttl, c.leadExpiry, err)
		}
	}
}
