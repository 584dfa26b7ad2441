package schemas

import (
	"errors"
	"reflect"
	"testing"
	"time"
	"unsafe"
)

func TestWireRoundTrip(t *testing.T) {
	f := func(name string, in Interaction) {
		t.Helper()
		b := AppendWire(nil, &in)
		var out Interaction
		if err := DecodeWire(&out, b); err != nil {
			t.Fatalf("%s: decode: %v", name, err)
		}
		in.Contact = Contact{}
		if len(in.Attributes) == 0 {
			in.Attributes, out.Attributes = nil, nil
		}
		if !reflect.DeepEqual(in, out) {
			t.Fatalf("%s: round trip\n got %+v\nwant %+v", name, out, in)
		}
		if again := AppendWire(nil, &out); string(again) != string(b) {
			t.Fatalf("%s: re-encoding differs", name)
		}
		// b may be reused once DecodeWire returned (its contract):
		// nothing decoded may change with it.
		for k := range b {
			b[k] = 0xff
		}
		if !reflect.DeepEqual(in, out) {
			t.Fatalf("%s: the decoded interaction changed with the record's bytes\n got %+v\nwant %+v", name, out, in)
		}
	}
	at := time.Date(2026, 12, 4, 9, 15, 2, 123456789, time.UTC)
	f("every field", Interaction{
		EventID: "e1", OccurredAt: at, Source: "aircall", Type: TypeCallOutbound, Channel: ChannelPhone,
		RepID: "rep-1", TeamID: "t1", AccountID: "a1", LeadID: "L1", ApprovalID: "ap", ApproverID: "m1", Stage: "Won",
		Currency: "EUR", Has: HasDuration | HasAmount | HasListPrice | HasDiscount | HasApproved,
		DurationS: 61.5, Amount: -3, ListPrice: 1e9, DiscountPct: 12.25, Approved: true,
		ContactKey: "k:email", Keys: ContactKeys{Email: "k:email", Phone: "k:phone", Mobile: "k:mobile"},
		PairOnly: true, Attributes: map[string]string{"b": "2", "a": "1", "": "empty key"},
	})
	f("a forecast", Interaction{EventID: "f1", OccurredAt: at, Source: "canonical", Type: TypeForecastSubmitted, Channel: ChannelCRM,
		RepID: "rep-1", TeamID: "t1", Stage: ForecastCommit, Period: "2026-Q2", Currency: "EUR", Has: HasAmount, Amount: 125000})
	f("a watermark", Interaction{EventID: "sales.aircall/3", OccurredAt: at, Watermark: true, SentAt: at.Add(time.Hour), Stage: WatermarkAtEnd})
	f("a customer's identity", Interaction{EventID: "sf:c1", OccurredAt: at, Source: "salesforce", Type: TypeLeadUpdated, Channel: ChannelCRM,
		LeadID: "003Dn00000A1", Keys: ContactKeys{Phone: "k:phone"}, Customer: true})
	f("minimal", Interaction{EventID: "x", OccurredAt: time.Unix(0, 0).UTC(), Type: TypeLeadUpdated, Channel: ChannelCRM})
	f("raw contact is not carried", Interaction{EventID: "c", OccurredAt: at, Type: TypeLeadCreated, Channel: ChannelCRM,
		Contact: Contact{Email: "a@b.c", Phone: "+1"}})
	f("before 1970", Interaction{EventID: "old", OccurredAt: time.Date(1969, 7, 20, 20, 17, 0, 0, time.UTC), Type: TypeMeetingHeld, Channel: ChannelMeeting})
}

func TestWireRejects(t *testing.T) {
	good := AppendWire(nil, &Interaction{EventID: "e", OccurredAt: time.Unix(1, 0), Type: TypeCallInbound, Channel: ChannelPhone,
		Attributes: map[string]string{"k": "v"}})
	for name, b := range map[string][]byte{
		"empty":          nil,
		"other version":  append([]byte{9}, good[1:]...),
		"canonical json": []byte(`{"event_id":"e"}`),
		"trailing bytes": append(append([]byte{}, good...), 0),
	} {
		var i Interaction
		if err := DecodeWire(&i, b); !errors.Is(err, ErrWire) {
			t.Errorf("%s: err = %v, want ErrWire", name, err)
		}
	}
	for n := range len(good) {
		var i Interaction
		if err := DecodeWire(&i, good[:n]); !errors.Is(err, ErrWire) {
			t.Fatalf("truncated to %d bytes: err = %v, want ErrWire", n, err)
		}
	}
}

func FuzzDecodeWire(f *testing.F) {
	f.Add(AppendWire(nil, &Interaction{EventID: "e", OccurredAt: time.Unix(1, 0), Type: TypeCallInbound, Channel: ChannelPhone,
		Keys: ContactKeys{Phone: "p"}, Attributes: map[string]string{"k": "v"}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var i Interaction
		if DecodeWire(&i, b) != nil {
			return
		}
		var j Interaction
		if err := DecodeWire(&j, AppendWire(nil, &i)); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
	})
}

func BenchmarkWire(b *testing.B) {
	in := Interaction{EventID: "hubspot-123456-7", OccurredAt: time.Now(), Source: "hubspot", Type: TypeCallOutbound,
		Channel: ChannelPhone, RepID: "rep-17", TeamID: "team-2", LeadID: "hs-contact-991", ContactKey: "v1:abcdef0123456789",
		Keys: ContactKeys{Phone: "v1:abcdef0123456789"}, Has: HasDuration, DurationS: 180}
	buf := AppendWire(nil, &in)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	var out Interaction
	for b.Loop() {
		buf = AppendWire(buf[:0], &in)
		if err := DecodeWire(&out, buf); err != nil {
			b.Fatal(err)
		}
	}
}

func TestNormaliseDomain(t *testing.T) {
	for in, want := range map[string]string{
		"acme.com": "acme.com", " https://WWW.Acme.com/about?x=1#y ": "acme.com", "acme.com.": "acme.com",
		"http://user@shop.acme.co.uk:8080/": "shop.acme.co.uk", "//www.acme.com": "acme.com", "www.www.acme.com": "www.acme.com",
		"eu.acme.com": "eu.acme.com", "localhost": "", "": "", "a b.com": "", "..com": "", ".acme.com": "",
	} {
		if got := NormaliseDomain(in); got != want {
			t.Errorf("NormaliseDomain(%q) = %q, want %q", in, got, want)
		}
	}
}

// The ids state keeps past a batch do not share memory with the rest of
// the record: keeping a lead id must not pin the contact keys and
// attributes.
func TestWireKeepsIDsApart(t *testing.T) {
	in := Interaction{EventID: "e-1", OccurredAt: time.Unix(1, 0).UTC(), Source: "crm", Type: TypeCallOutbound, Channel: ChannelPhone,
		RepID: "rep-1", LeadID: "lead-1", ContactKey: "v1:abcdef", Keys: ContactKeys{Phone: "v1:abcdef"}}
	var out Interaction
	if err := DecodeWire(&out, AppendWire(nil, &in)); err != nil {
		t.Fatal(err)
	}
	ids := uintptr(unsafe.Pointer(unsafe.StringData(out.EventID)))
	if lead := uintptr(unsafe.Pointer(unsafe.StringData(out.LeadID))); lead != ids+uintptr(len("e-1rep-1")) {
		t.Fatalf("lead id at %#x, want right after the event and rep ids at %#x", lead, ids)
	}
	if src := uintptr(unsafe.Pointer(unsafe.StringData(out.Source))); src >= ids && src < ids+uintptr(len("e-1rep-1lead-1")) {
		t.Fatal("source shares the ids' allocation")
	}
}
