package gen

import (
	"math/rand/v2"
	"strconv"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources"
	"github.com/salespulse/salespulse/sources/vendorkit"
)

// VendorRecord is one Kafka record as a vendor (or its webhook relay)
// would write it; Vendor is the name of a sources.Vendors entry.
type VendorRecord = vendorkit.Record

// VendorEncoder renders canonical interactions of one Generator as the
// payloads their vendors would send. The wire formats live in the vendor
// folders, beside the decoders they feed (each vendor's synth.go); the
// encoder only decides which vendor carries an interaction: the vendors
// that carry it natively, one drawn at random when several do (Aircall or
// Twilio for a call), else the canonical JSON. docs/sources.md
// ("Synthetic payloads") has the resulting table.
//
// It is deterministic: the same generator config and the same sequence of
// Encode calls give the same bytes. It is not safe for concurrent use.
type VendorEncoder struct {
	s     vendorkit.Synth
	encs  []vendorkit.Encoder // in sources.Vendors order
	names []string            // their vendors' names
	reps  map[string]*vendorkit.SynthRep
	cand  []int
}

// NewVendorEncoder returns an encoder for g's org. With expect, every
// record also carries the interactions its decoder must produce (slower:
// it allocates them).
func NewVendorEncoder(g *Generator, expect bool) *VendorEncoder {
	cfg := g.Config()
	e := &VendorEncoder{
		s: vendorkit.Synth{
			Rand:       rand.New(rand.NewPCG(cfg.Seed, 0x76656e646f72)), // "vendor"
			Seed:       cfg.Seed,
			SeedText:   strconv.FormatUint(cfg.Seed, 10),
			Expect:     expect,
			MailDomain: MailDomain,
		},
		reps: map[string]*vendorkit.SynthRep{},
	}
	type crm struct {
		name string
		crm  vendorkit.CRM
	}
	var crms []crm
	for _, v := range sources.Vendors() {
		enc := v.NewEncoder()
		e.encs, e.names = append(e.encs, enc), append(e.names, v.Name)
		if c, ok := enc.(vendorkit.CRM); ok {
			crms = append(crms, crm{v.Name, c})
		}
	}
	org := g.Org()
	byTeam := map[string][]*vendorkit.SynthRep{}
	for k := range org.Reps {
		r := &org.Reps[k]
		var c crm
		if n := uint64(len(crms)); n > 0 {
			// team-01 works in the first CRM, team-02 in the second, ...
			c = crms[(vendorkit.IDNumber(r.TeamID)+n-1)%n]
		}
		id := vendorkit.NewSynthRep(r, c.name, c.crm)
		e.reps[r.ID] = id
		byTeam[r.TeamID] = append(byTeam[r.TeamID], id)
	}
	for _, team := range byTeam {
		for k, id := range team {
			id.Colleague = team[(k+1)%len(team)]
		}
	}
	return e
}

// Encode renders in (an interaction from g.Next, with its key) as vendor
// records: the record that carries it, preceded or followed by noise its
// decoder must skip. The returned slice and every byte slice in it are
// valid until the next call to Encode.
func (e *VendorEncoder) Encode(in *schemas.Interaction, key []byte) []VendorRecord {
	e.s.Begin()
	rep := e.reps[in.RepID] // nil: not a rep of the org, nobody's vendor identity
	best := vendorkit.CarryNo
	e.cand = e.cand[:0]
	for k, enc := range e.encs {
		switch c := enc.Carries(in, rep); {
		case c > best:
			best, e.cand = c, append(e.cand[:0], k)
		case c == best && c != vendorkit.CarryNo:
			e.cand = append(e.cand, k)
		}
	}
	var k int
	switch len(e.cand) {
	case 0:
		return nil
	case 1:
		k = e.cand[0]
	default:
		k = e.cand[e.s.Rand.IntN(len(e.cand))]
	}
	e.s.Vendor = e.names[k]
	e.encs[k].Encode(&e.s, in, key, rep)
	return e.s.Records()
}
