package gen_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources"
	"github.com/salespulse/salespulse/sources/canonical"
	"github.com/salespulse/salespulse/sources/gen"
	"github.com/salespulse/salespulse/sources/vendorkit"
)

type decoder interface {
	Decode(dst []schemas.Interaction, value []byte) ([]schemas.Interaction, error)
}

// decoders returns the real decoder of every vendor, with default config,
// for org.
func decoders(t testing.TB, org *schemas.Org) map[string]decoder {
	t.Helper()
	idx := schemas.NewIndex(org)
	m := map[string]decoder{}
	for _, v := range sources.Vendors() {
		d, err := v.NewDefaultDecoder(idx, nil)
		if err != nil {
			t.Fatal(err)
		}
		m[v.Name] = d
	}
	return m
}

func oneDay(seed uint64) gen.Config {
	cfg := gen.DefaultConfig()
	cfg.Seed, cfg.Days = seed, 1
	return cfg
}

// TestVendorRecordsDecodeToExpected renders a generated day as vendor
// payloads and decodes every record with the real decoder: each must yield
// exactly its expected interactions (noise: none), every generated
// interaction must be expected exactly once, and every vendor must carry
// some of the day.
func TestVendorRecordsDecodeToExpected(t *testing.T) {
	g, err := gen.New(oneDay(7))
	if err != nil {
		t.Fatal(err)
	}
	decs := decoders(t, g.Org())
	enc := gen.NewVendorEncoder(g, true)
	var (
		in       schemas.Interaction
		got      []schemas.Interaction
		events   int
		expected int
		records  = map[string]int{}
		noise    = map[string]int{}
		carried  = map[string]int{}
		ids      = map[string]bool{}
		leadsOf  = map[string]string{} // vendor lead id -> generator lead id
		byType   = map[string]map[schemas.Type]int{}
		failures int
	)
	for {
		key, ok := g.Next(&in)
		if !ok {
			break
		}
		events++
		recs := enc.Encode(&in, key)
		want := 0
		for k := range recs {
			r := &recs[k]
			records[r.Vendor]++
			if !bytes.Equal(r.Key, key) {
				t.Fatalf("%s record of %s has key %q, want the canonical key %q", r.Vendor, in.EventID, r.Key, key)
			}
			got, err = decs[r.Vendor].Decode(got[:0], r.Value)
			if err != nil {
				t.Fatalf("%s decoder rejects the record of %s (%s): %v\n%s", r.Vendor, in.EventID, in.Type, err, r.Value)
			}
			if len(got) != len(r.Expected) {
				t.Fatalf("%s decoder made %d interactions of %s (%s), want %d\n%s", r.Vendor, len(got), in.EventID, in.Type, len(r.Expected), r.Value)
			}
			if len(r.Expected) == 0 {
				noise[r.Vendor]++
			}
			for j := range got {
				if d := vendorkit.Diff(&r.Expected[j], &got[j]); d != "" {
					failures++
					if failures <= 10 {
						t.Errorf("%s record of %s (%s): %s\n%s", r.Vendor, in.EventID, in.Type, d, r.Value)
					}
				}
				if ids[got[j].EventID] {
					t.Errorf("event id %s decoded twice", got[j].EventID)
				}
				ids[got[j].EventID] = true
				want++
				carried[r.Vendor]++
				if byType[r.Vendor] == nil {
					byType[r.Vendor] = map[schemas.Type]int{}
				}
				byType[r.Vendor][got[j].Type]++
				// A lead keeps one id across vendors: what pairs a
				// trigger with its answer.
				if in.LeadID != "" && got[j].LeadID != "" {
					if prev, ok := leadsOf[got[j].LeadID]; ok && prev != in.LeadID {
						t.Errorf("vendor lead id %s stands for %s and %s", got[j].LeadID, prev, in.LeadID)
					}
					leadsOf[got[j].LeadID] = in.LeadID
				}
			}
		}
		if want != 1 {
			t.Fatalf("%s (%s) is expected %d times, want once", in.EventID, in.Type, want)
		}
		expected += want
	}
	if expected != events {
		t.Fatalf("%d interactions expected, generator made %d", expected, events)
	}
	for _, v := range sources.Names() {
		if carried[v] == 0 {
			t.Errorf("vendor %s carried no interaction", v)
		}
		t.Logf("%-10s records %6d  noise %5d  interactions %6d  %v", v, records[v], noise[v], carried[v], byType[v])
	}
	for _, v := range sources.Names() {
		if v == canonical.Name {
			continue // the fallback: it sends no noise
		}
		if noise[v] == 0 {
			t.Errorf("vendor %s got no noise records", v)
		}
	}
	// Lead-bearing touches keep their lead: the generator's lead-bearing
	// events and the decoded ones with a lead id must be the same count.
	t.Logf("%d events, %d distinct vendor lead ids", events, len(leadsOf))
}

// TestVendorLeadIDsSurvive checks that every generated interaction with a
// lead decodes with a lead id: lead response time must stay computable.
func TestVendorLeadIDsSurvive(t *testing.T) {
	g, err := gen.New(oneDay(3))
	if err != nil {
		t.Fatal(err)
	}
	decs := decoders(t, g.Org())
	enc := gen.NewVendorEncoder(g, true)
	var in schemas.Interaction
	var got []schemas.Interaction
	n := 0
	for {
		key, ok := g.Next(&in)
		if !ok {
			break
		}
		for _, r := range enc.Encode(&in, key) {
			got, err = decs[r.Vendor].Decode(got[:0], r.Value)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range got {
				if (in.LeadID != "") != (it.LeadID != "") {
					t.Fatalf("%s (%s, lead %q) decoded by %s with lead %q", in.EventID, in.Type, in.LeadID, r.Vendor, it.LeadID)
				}
				if in.LeadID != "" {
					n++
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no lead-bearing interaction")
	}
}

// TestVendorDeterministic: the same seed gives the same records, another
// seed others.
func TestVendorDeterministic(t *testing.T) {
	sum := func(seed uint64) [32]byte {
		g, err := gen.New(oneDay(seed))
		if err != nil {
			t.Fatal(err)
		}
		enc := gen.NewVendorEncoder(g, false)
		h := sha256.New()
		var in schemas.Interaction
		for {
			key, ok := g.Next(&in)
			if !ok {
				break
			}
			for _, r := range enc.Encode(&in, key) {
				fmt.Fprintf(h, "%s\x00%s\x00%s\x00", r.Vendor, r.Key, r.Value)
			}
		}
		var s [32]byte
		h.Sum(s[:0])
		return s
	}
	if a, b := sum(11), sum(11); a != b {
		t.Fatal("the same seed produced different vendor records")
	}
	if a, b := sum(11), sum(12); a == b {
		t.Fatal("different seeds produced the same vendor records")
	}
}

// BenchmarkVendorEncode measures rendering generated interactions as vendor
// payloads (generation included; compare with BenchmarkNext).
//
//	go test ./sources/gen -run '^$' -bench VendorEncode -benchtime=200ms -count=3
func BenchmarkVendorEncode(b *testing.B) {
	cfg := gen.DefaultConfig()
	cfg.Days = 0
	g, err := gen.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	enc := gen.NewVendorEncoder(g, false)
	var in schemas.Interaction
	var bytes, recs int64
	b.ReportAllocs()
	for b.Loop() {
		key, _ := g.Next(&in)
		for _, r := range enc.Encode(&in, key) {
			bytes += int64(len(r.Value))
			recs++
		}
	}
	b.ReportMetric(float64(recs)/float64(b.N), "records/op")
	b.ReportMetric(float64(bytes)/float64(b.N), "B/interaction")
}
