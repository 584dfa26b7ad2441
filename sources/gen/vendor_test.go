package gen_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nyaruka/phonenumbers"

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
	cfg.Signals.PerDay = 150 // so the signal vendors carry some
	return cfg
}

// crmVendors are the vendors whose payloads name leads: their touches are
// activities logged on a lead (Salesforce Tasks and Events), with its id.
var crmVendors = map[string]bool{"salesforce": true, "hubspot": true}

// noCountry are the CRMs whose identity events carry no country
// (docs/sources.md, "What a vendor cannot carry").
var noCountry = map[string]bool{"hubspot": true}

// isTouch: the types other systems than the CRM carry.
func isTouch(t schemas.Type) bool {
	switch t {
	case schemas.TypeMessageInbound, schemas.TypeMessageOutbound, schemas.TypeCallInbound, schemas.TypeCallOutbound,
		schemas.TypeMeetingHeld, schemas.TypeMeetingJoined:
		return true
	}
	return false
}

// TestVendorRecordsDecodeToExpected renders a generated day as vendor
// payloads and decodes every record with the real decoder: each must yield
// exactly its expected interactions (noise: none), every rendered
// interaction must be expected exactly once, touches decode without a
// lead id and CRM identities with one, and every vendor must carry some of
// the day.
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
		rendered int
		expected int
		records  = map[string]int{}
		noise    = map[string]int{}
		carried  = map[string]int{}
		ids      = map[string]bool{}
		byType   = map[string]map[schemas.Type]int{}
		failures int
		decoded  []decodedAs
	)
	for {
		key, ok := g.Next(&in)
		if !ok {
			break
		}
		events++
		recs := enc.Encode(&in, key)
		decoded = decoded[:0]
		for k := range recs {
			r := &recs[k]
			records[r.Vendor]++
			// CRM records keep the lead's (or account's) key, an existing
			// customer's identity its contact id; touches are keyed by rep.
			if k := string(r.Key); k != string(key) && k != in.RepID && !strings.HasPrefix(k, "contact-") {
				t.Fatalf("%s record of %s has key %q, want %q, the rep or a contact id", r.Vendor, in.EventID, r.Key, key)
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
				switch ty := got[j].Type; {
				case isTouch(ty) && !crmVendors[r.Vendor] && (got[j].LeadID != "" || got[j].AccountID != ""):
					t.Errorf("%s touch %s (%s) decoded with lead %q, account %q: the vendor knows neither", r.Vendor, got[j].EventID, ty, got[j].LeadID, got[j].AccountID)
				case isTouch(ty) && crmVendors[r.Vendor] && got[j].LeadID == "":
					t.Errorf("%s activity %s (%s) decoded without lead id", r.Vendor, got[j].EventID, ty)
				case (ty == schemas.TypeLeadCreated || ty == schemas.TypeLeadUpdated) && got[j].LeadID == "":
					t.Errorf("%s identity %s (%s) decoded without lead id", r.Vendor, got[j].EventID, ty)
				case r.Vendor == canonical.Name && (ty == schemas.TypeLeadUpdated || ty == schemas.TypeMeetingJoined):
					t.Errorf("%s %s travels as canonical JSON: its vendor must carry it", got[j].EventID, ty)
				}
				decoded = append(decoded, decodedAs{got[j], r.Vendor})
				carried[r.Vendor]++
				if byType[r.Vendor] == nil {
					byType[r.Vendor] = map[schemas.Type]int{}
				}
				byType[r.Vendor][got[j].Type]++
			}
		}
		folded := fold(t, decoded)
		if n := len(enc.Rendered()); len(folded) != n || n == 0 {
			t.Fatalf("%s (%s): %d interactions expected (%d decoded), %d rendered", in.EventID, in.Type, len(folded), len(decoded), n)
		}
		for k := range folded {
			if d := sameAsRendered(t, &enc.Rendered()[k], &folded[k]); d != "" {
				t.Fatalf("%s (%s): %s decoded as rendered %s differs: %s", in.EventID, in.Type, folded[k].Vendor, enc.Rendered()[k].Type, d)
			}
		}
		rendered += len(enc.Rendered())
		expected += len(folded)
	}
	if expected != rendered {
		t.Fatalf("%d interactions expected, encoder rendered %d", expected, rendered)
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
	t.Logf("%d events rendered as %d interactions", events, rendered)
}

// decodedAs is an interaction a decoder made, with the vendor whose
// record it was.
type decodedAs struct {
	schemas.Interaction
	Vendor string
}

// fold merges the identity events of one lead that a CRM sends for one
// rendered identity into one: HubSpot renders a contact as its
// contact.creation (no identity) plus one contact.propertyChange per
// e-mail, phone or mobile, each a lead.updated. The folded identity is a
// lead.created when one of them is (at most one is), else a lead.updated;
// its contact is the union of theirs, and no identity may come twice.
func fold(t *testing.T, in []decodedAs) []decodedAs {
	t.Helper()
	var out []decodedAs
	at := map[string]int{} // vendor + lead id -> index in out
	for _, d := range in {
		if d.Type != schemas.TypeLeadCreated && d.Type != schemas.TypeLeadUpdated {
			out = append(out, d)
			continue
		}
		k, seen := at[d.Vendor+"\x00"+d.LeadID]
		if !seen {
			at[d.Vendor+"\x00"+d.LeadID] = len(out)
			out = append(out, d)
			continue
		}
		f := &out[k]
		if d.Type == schemas.TypeLeadCreated {
			if f.Type == schemas.TypeLeadCreated {
				t.Fatalf("%s lead %s created twice in one rendering", d.Vendor, d.LeadID)
			}
			f.Type, f.EventID = d.Type, d.EventID
		}
		for _, p := range []struct {
			dst *string
			v   string
		}{
			{&f.Contact.Email, d.Contact.Email}, {&f.Contact.Phone, d.Contact.Phone},
			{&f.Contact.Mobile, d.Contact.Mobile}, {&f.Contact.Country, d.Contact.Country}, {&f.Contact.Name, d.Contact.Name},
		} {
			switch {
			case p.v == "":
			case *p.dst == "":
				*p.dst = p.v
			case *p.dst != p.v && p.dst != &f.Contact.Country:
				t.Fatalf("%s lead %s: one identity given twice, %q and %q", d.Vendor, d.LeadID, *p.dst, p.v)
			}
		}
	}
	return out
}

// sameAsRendered compares what the decoders made of one rendered
// interaction (folded) with it: same type, rep and team; a touch's
// contact the same once normalised; an identity's e-mail, phone and
// mobile the same numbers and address (Salesforce may file a lead's only
// number as MobilePhone), and its country unless the CRM carries none.
func sameAsRendered(t *testing.T, want *schemas.Interaction, got *decodedAs) string {
	t.Helper()
	switch {
	case want.Type != got.Type:
		return fmt.Sprintf("type %s", got.Type)
	case want.RepID != got.RepID || want.TeamID != got.TeamID:
		return fmt.Sprintf("rep %s/%s, want %s/%s", got.RepID, got.TeamID, want.RepID, want.TeamID)
	}
	ids := func(c *schemas.Contact, country string) []string {
		var s []string
		for _, v := range []string{c.Email, c.Phone, c.Mobile} {
			if v != "" {
				s = append(s, normal(t, v, country))
			}
		}
		slices.Sort(s)
		return s
	}
	switch want.Type {
	case schemas.TypeLeadCreated, schemas.TypeLeadUpdated:
		if w, g := ids(&want.Contact, want.Contact.Country), ids(&got.Contact, want.Contact.Country); !slices.Equal(w, g) {
			return fmt.Sprintf("identities %v, want %v", g, w)
		}
		if c := want.Contact.Country; noCountry[got.Vendor] {
			c = ""
		} else if got.Contact.Country != c {
			return fmt.Sprintf("country %q, want %q", got.Contact.Country, c)
		}
	default:
		if isTouch(want.Type) && crmVendors[got.Vendor] {
			// An activity logged on the lead names the lead, not the
			// contact.
			if got.LeadID == "" || !got.Contact.IsZero() {
				return fmt.Sprintf("CRM activity with lead %q, contact %+v", got.LeadID, got.Contact)
			}
			return ""
		}
		country := "ZZ" // touches carry E.164: no region needed
		if w, g := ids(&want.Contact, country), ids(&got.Contact, country); !slices.Equal(w, g) {
			return fmt.Sprintf("contact %v, want %v", g, w)
		}
	}
	return ""
}

// normal is a contact identity as the pipeline normalises it: e-mail
// lower-cased, numbers in E.164 read in the contact's country.
func normal(t *testing.T, v, country string) string {
	t.Helper()
	if strings.Contains(v, "@") {
		return strings.ToLower(strings.TrimSpace(v))
	}
	n, err := phonenumbers.Parse(v, country)
	if err != nil || !phonenumbers.IsValidNumber(n) {
		t.Fatalf("%q (country %q) is no valid number: %v", v, country, err)
	}
	return phonenumbers.Format(n, phonenumbers.E164)
}

// TestVendorJourneys follows the generated journeys as the systems see
// them: leads created in the CRM with e-mail, phone and country in the
// CRM's forms; touches that name no lead but a contact in the touching
// system's form (E.164, lower-case); existing customers' identities before
// their touches. Resolving every touch by its normalised identity (the
// last identity learnt wins) must give the lead the generator meant, or an
// existing customer's contact id when it meant none.
func TestVendorJourneys(t *testing.T) {
	g, err := gen.New(oneDay(3))
	if err != nil {
		t.Fatal(err)
	}
	enc := gen.NewVendorEncoder(g, false)
	owner := map[string]string{} // normalised identity -> lead or contact id
	var in schemas.Interaction
	var leads, mobiles, updated, leadTouches, customerTouches, joined, logged int
	countries := map[string]int{}
	for {
		key, ok := g.Next(&in)
		if !ok {
			break
		}
		enc.Encode(&in, key)
		for _, it := range enc.Rendered() {
			c := it.Contact
			switch {
			case it.Type == schemas.TypeLeadCreated || it.Type == schemas.TypeLeadUpdated:
				if it.LeadID == "" || c.Email == "" || c.Phone == "" || c.Country == "" {
					t.Fatalf("%s %s lacks lead id, e-mail, phone or country: %+v", it.Type, it.EventID, it)
				}
				if c.Email == strings.ToLower(c.Email) || strings.HasPrefix(c.Phone, "+") {
					t.Errorf("%s %s: CRM copy %q, %q is not as typed (mixed case, national number)", it.Type, it.EventID, c.Email, c.Phone)
				}
				if it.Type == schemas.TypeLeadCreated {
					leads++
				} else {
					updated++
					if !strings.HasPrefix(it.LeadID, "contact-") {
						t.Errorf("lead.updated %s names %q, want a contact id", it.EventID, it.LeadID)
					}
				}
				countries[c.Country]++
				for _, v := range []string{c.Email, c.Phone, c.Mobile} {
					if v != "" {
						owner[normal(t, v, c.Country)] = it.LeadID
					}
				}
				if c.Mobile != "" {
					mobiles++
				}
			case isTouch(it.Type) && it.LeadID != "":
				// Logged on the lead in the CRM: the lead's id, no contact.
				if it.LeadID != in.LeadID || !c.IsZero() {
					t.Fatalf("CRM activity %s (%s) names lead %q (want %q), contact %+v", it.EventID, it.Type, it.LeadID, in.LeadID, c)
				}
				logged++
			case isTouch(it.Type) && it.Type != schemas.TypeMeetingHeld:
				if it.LeadID != "" || it.AccountID != "" || c.Country != "" {
					t.Fatalf("touch %s (%s) carries lead %q, account %q, country %q", it.EventID, it.Type, it.LeadID, it.AccountID, c.Country)
				}
				v := c.Email
				if v == "" {
					v = c.Phone
					if !strings.HasPrefix(v, "+") {
						t.Fatalf("call %s: number %q is not E.164", it.EventID, v)
					}
				} else if v != strings.ToLower(v) {
					t.Fatalf("%s %s: address %q is not lower-case", it.Type, it.EventID, v)
				}
				if it.Type == schemas.TypeMeetingJoined {
					joined++
				}
				got, ok := owner[v]
				switch {
				case in.LeadID != "" && got != in.LeadID:
					t.Errorf("%s %s to %s resolves to %q, want lead %s", it.Type, in.EventID, v, got, in.LeadID)
				case in.LeadID != "":
					leadTouches++
				case !ok && in.AccountID != "":
					t.Errorf("%s %s to customer %s has no identity before it", it.Type, in.EventID, v)
				case ok && !strings.HasPrefix(got, "contact-"):
					t.Errorf("%s %s to customer %s resolves to lead %s", it.Type, in.EventID, v, got)
				default:
					customerTouches++
				}
			case it.Type == schemas.TypeMeetingHeld && !it.Contact.IsZero():
				t.Errorf("meeting.held %s names its guest %+v: meeting.joined does", it.EventID, it.Contact)
			}
		}
	}
	t.Logf("%d leads (%d with mobile), %d customer identities, %d lead touches (%d more logged in the CRM), %d customer touches, %d joins, countries %v",
		leads, mobiles, updated, leadTouches, logged, customerTouches, joined, countries)
	if leads == 0 || mobiles == 0 || updated == 0 || leadTouches == 0 || logged == 0 || customerTouches == 0 || joined == 0 || len(countries) != 3 {
		t.Fatal("a kind of journey is missing")
	}
}

// TestVendorStreamDelivery: with delivery_skew every record arrives within
// the skew after its event time, records of different topics overtake each
// other in both directions (a CRM record after a later touch, a touch
// after a later CRM record), and with webhook_retries about that share of
// HubSpot, Zoom and Aircall records comes twice with the same event id.
func TestVendorStreamDelivery(t *testing.T) {
	cfg := oneDay(5)
	cfg.DeliverySkew, cfg.WebhookRetries = 2*time.Minute, 0.05
	g, err := gen.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	decs := decoders(t, g.Org())
	st := gen.NewVendorStream(g, true)
	crm := map[string]bool{"salesforce": true, "hubspot": true}
	var (
		in       schemas.Interaction
		all      []gen.Delivery
		got      []schemas.Interaction
		eligible int
		retries  int
		maxEvent = map[string]time.Time{}
		inv      = map[string]int{} // "crm>touch": a CRM record delivered after a touch of later event time
	)
	check := func(ds []gen.Delivery) {
		for _, d := range ds {
			d.Value = bytes.Clone(d.Value)
			all = append(all, d)
			if n := len(all); n > 1 && d.At.Before(all[n-2].At) {
				t.Fatalf("delivery at %s after one at %s", d.At, all[n-2].At)
			}
			if d.Retry {
				retries++
				got, err = decs[d.Vendor].Decode(got[:0], d.Value)
				if err != nil || len(got) != len(d.Expected) {
					t.Fatalf("retry of %s: %v, %d interactions, want %d", d.Vendor, err, len(got), len(d.Expected))
				}
				for j := range got {
					if got[j].EventID != d.Expected[j].EventID {
						t.Errorf("retry of %s has event id %s, want the original %s", d.Vendor, got[j].EventID, d.Expected[j].EventID)
					}
				}
				continue
			}
			if lag := d.At.Sub(d.EventTime); lag < 0 || lag > cfg.DeliverySkew {
				t.Fatalf("%s record delivered %v after its event, want within [0, %v]", d.Vendor, lag, cfg.DeliverySkew)
			}
			if d.Vendor == "hubspot" || d.Vendor == "zoom" || d.Vendor == "aircall" {
				eligible++
			}
			for u, m := range maxEvent {
				if u != d.Vendor && m.After(d.EventTime) {
					switch {
					case crm[d.Vendor] && !crm[u]:
						inv["crm>touch"]++
					case !crm[d.Vendor] && crm[u]:
						inv["touch>crm"]++
					}
				}
			}
			if d.EventTime.After(maxEvent[d.Vendor]) {
				maxEvent[d.Vendor] = d.EventTime
			}
		}
	}
	for {
		key, ok := g.Next(&in)
		if !ok {
			break
		}
		check(st.Next(&in, key))
	}
	check(st.Drain())
	rate := float64(retries) / float64(eligible)
	t.Logf("%d deliveries, %d retries of %d webhook records (%.3f), inversions %v", len(all), retries, eligible, rate, inv)
	if inv["crm>touch"] == 0 || inv["touch>crm"] == 0 {
		t.Errorf("skew reordered topics in one direction only: %v", inv)
	}
	if rate < 0.035 || rate > 0.065 {
		t.Errorf("retry rate %.3f, want about 0.05", rate)
	}

	// Without skew and retries the stream is the encoder's order.
	g1, _ := gen.New(oneDay(5))
	g2, _ := gen.New(oneDay(5))
	plain, enc := gen.NewVendorStream(g1, false), gen.NewVendorEncoder(g2, false)
	var in2 schemas.Interaction
	for {
		key, ok := g1.Next(&in)
		if !ok {
			break
		}
		key2, _ := g2.Next(&in2)
		ds, rs := plain.Next(&in, key), enc.Encode(&in2, key2)
		if len(ds) != len(rs) {
			t.Fatalf("%s: %d deliveries, %d records", in.EventID, len(ds), len(rs))
		}
		for k := range ds {
			if !bytes.Equal(ds[k].Value, rs[k].Value) || !ds[k].At.Equal(in.OccurredAt) {
				t.Fatalf("%s: delivery %d differs from the encoder's record", in.EventID, k)
			}
		}
	}
}

// TestVendorDeterministic: the same seed gives the same records in the
// same delivery order, another seed others.
func TestVendorDeterministic(t *testing.T) {
	sum := func(seed uint64) [32]byte {
		cfg := oneDay(seed)
		cfg.DeliverySkew, cfg.WebhookRetries = 3*time.Minute, 0.1
		g, err := gen.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		st := gen.NewVendorStream(g, false)
		h := sha256.New()
		var in schemas.Interaction
		put := func(ds []gen.Delivery) {
			for _, d := range ds {
				fmt.Fprintf(h, "%s\x00%s\x00%s\x00%d\x00", d.Vendor, d.Key, d.Value, d.At.UnixMilli())
			}
		}
		for {
			key, ok := g.Next(&in)
			if !ok {
				break
			}
			put(st.Next(&in, key))
		}
		put(st.Drain())
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
