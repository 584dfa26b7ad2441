package leads

import (
	"context"
	"testing"
	"time"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/gen"
)

// BenchmarkRouter routes one drain-sized batch (12,500 generated
// interactions, their contact's values moved into the key fields where
// the privacy stage puts its pseudonyms, and the contact cleared) to
// the leads and contacts topics per op, with a store that keeps nothing:
// the cost of encoding and addressing the messages. Two commits compare
// as in benchmarks/README.md, "Stage micro-benchmarks".
func BenchmarkRouter(b *testing.B) {
	const per = 12_500
	cfg := gen.DefaultConfig()
	cfg.Teams, cfg.Days = 40, 0
	g, err := gen.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ints := make([]schemas.Interaction, per)
	for k := range ints {
		i := &ints[k]
		g.Next(i)
		// As after the privacy stage: keys instead of the raw contact.
		i.Keys = schemas.ContactKeys{Email: i.Contact.Email, Phone: i.Contact.Phone, Mobile: i.Contact.Mobile}
		i.ContactKey = i.Contact.Email
		i.Contact = schemas.Contact{}
	}
	l, err := New(Config{Hold: time.Hour}, nopStore{}, Topology{Partitions: 12, Sources: []string{"crm/0"}}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	r := l.NewRouter()
	ctx := context.Background()
	next := int64(0)
	b.ReportAllocs()
	for b.Loop() {
		bt := schemas.NewBatch(schemas.Origin{Topic: "sales.canonical", FirstOffset: next, LastOffset: next + per - 1}, nil)
		bt.Interactions = ints
		next += per
		if err := r.Process(ctx, bt); err != nil {
			b.Fatal(err)
		}
	}
}
