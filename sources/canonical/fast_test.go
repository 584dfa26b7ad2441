package canonical

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/encoding/json"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/canonical/internal/jsonscan"
)

// FuzzFastMatchesReference holds the fast path to the reference decoder:
// whatever the fast path accepts, the reference decoder accepts with an
// equal result and equal unknown-field counts, and segmentio's json.Unmarshal
// reads the same field values from it. Inputs the fast path declines are
// decoded by the reference decoder anyway, so only over-declining valid
// input (a lost speed-up, not a wrong result) is reported for those.
//
//	go test ./sources/canonical -run '^$' -fuzz FuzzFastMatchesReference -fuzztime 60s
func FuzzFastMatchesReference(f *testing.F) {
	for _, l := range readLines(f, "typical.jsonl") {
		f.Add(l)
	}
	for _, s := range []string{
		`[{"event_id":"a","occurred_at":"2024-05-01T09:30:00Z","source":"s","type":"lead.created"},{"event_id":"b"},7]`,
		`[ {"event_id":"a","occurred_at":"2024-05-01T09:30:00Z","source":"s","type":"lead.created"} , {"event_id":"b","occurred_at":"2024-05-01T09:30:00Z","source":"s","type":"lead.created"} ]`,
		`{"event_id":"e\u00e9\ud83d\ude00","occurred_at":"2024-05-01T09:30:00.123456789-11:59","source":"s","type":"lead.created","x":{"y":[1,{"z":null}]}}`,
		"{\"event_id\":\"\xff\xfe\",\"occurred_at\":\"2024-05-01T09:30:00Z\",\"source\":\"Zoë\x7f\",\"type\":\"lead.created\"}",
		`{"event\u005fid":"e","occurred_at":"2024\u002d05-01T09:30:00Z","source":"s","type":"deal.won","amount":-0,"list_price":1e3,"discount_pct":0.0000001,"duration_s":12345678901234567890}`,
		`{"event_id":"e","occurred_at":"2024-05-01T09:30:00Z","source":"s","type":"approval.decided","approval_id":"a","approved":false,"contact":{"email":null,"phone":"1","x":[true,false,null,"\"",-1.5E+3]},"attributes":{"a":null,"a":"b","c":""}}`,
		`{"event_id":"e","occurred_at":"2024-05-01T09:30:00Z","source":"s","type":"lead.updated","lead_id":"l","contact":{"mobile":"+1 201 555 0199","country":"us","phone":null},"contact_keys":{"email":"k1:x"}}`,
		`{"event_id":"e","occurred_at":"2024-05-01T09:30:00Z","source":"s","type":"lead.created","contact":{"mobile":"1","mobile":"2"}}`,
		`{"event_id":"e","occurred_at":"2024-05-01T09:30:00Z","source":"s","type":"lead.updated","lead_id":"c","customer":true,"contact":{"phone":"1"}}`,
		`{"event_id":"e","occurred_at":"2024-05-01T09:30:00Z","source":"s","type":"call.inbound","customer":false}`,
		`{"event_id":"e","occurred_at":"2024-05-01T09:30:00Z","source":"s","type":"call.inbound","customer":null,"customer":true}`,
		`{"event_id":"e","occurred_at":"2024-05-01T09:30:00Z","source":"s","type":"call.inbound","customer":"yes"}`,
		`{"event_id":"e","occurred_at":"2024-05-01T09:30:00Z","source":"s","type":"lead.created","deep":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`,
		`{"event_id":"e","event_id":"f"}`, `{"a" 1}`, `{"a":1,}`, `[`, `{}`, `[]`, `null`, `"x"`, `{"a":01}`, `{"a":1.}`, `{"a":nul}`, `{"a":"\q"}`,
		"{\"a\":\"\x01\"}", `{"attributes":{"a":"b","a":"c"}}`, `[{},]`, `{"a":[1,]}`, `{"a":{"b" :1 , "c":[ ] }}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		dFast, dRef := NewDecoder(prometheus.NewRegistry()), NewDecoder(prometheus.NewRegistry())
		sFast, sRef := dFast.pool.Get().(*state), dRef.pool.Get().(*state)

		got, ok := sFast.fast(nil, b)
		want, err := sRef.decode(nil, b)
		if !ok {
			if err == nil && bytes.Count(b, []byte("["))+bytes.Count(b, []byte("{")) < jsonscan.MaxDepth {
				t.Errorf("fast path declined a valid record the reference decoder accepts")
			}
			return
		}
		if err != nil {
			t.Fatalf("fast path accepted a record the reference decoder rejects: %v", err)
		}
		sFast.countUnknowns()
		if len(got) != len(want) {
			t.Fatalf("fast path decoded %d events, reference %d", len(got), len(want))
		}
		for k := range got {
			if !reflect.DeepEqual(got[k], want[k]) && !equalInteraction(got[k], want[k]) {
				t.Fatalf("event %d differs\nfast %+v\nref  %+v", k, got[k], want[k])
			}
		}
		if a, b := unknownCounts(dFast), unknownCounts(dRef); !reflect.DeepEqual(a, b) {
			t.Fatalf("unknown fields counted differently\nfast %v\nref  %v", a, b)
		}
		checkAgainstUnmarshal(t, b, got)
	})
}

// checkAgainstUnmarshal compares decoded events with what segmentio's
// json.Unmarshal reads from the same record into maps.
func checkAgainstUnmarshal(t *testing.T, b []byte, got []schemas.Interaction) {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("fast path accepted what json.Unmarshal rejects: %v", err)
	}
	objs, ok := v.([]any)
	if !ok {
		objs = []any{v}
	}
	if len(objs) != len(got) {
		t.Fatalf("json.Unmarshal found %d objects, fast path %d events", len(objs), len(got))
	}
	for k, o := range objs {
		m := o.(map[string]any)
		it := &got[k]
		for name, field := range map[string]string{
			"event_id": it.EventID, "source": it.Source, "rep_id": it.RepID, "team_id": it.TeamID,
			"account_id": it.AccountID, "lead_id": it.LeadID, "approval_id": it.ApprovalID,
			"approver_id": it.ApproverID, "stage": it.Stage, "currency": it.Currency,
		} {
			s := fieldStr(m, name)
			if name == "currency" {
				s = strings.ToUpper(s) // Normalize
			}
			if s != field {
				t.Errorf("event %d %s %q, json.Unmarshal %q", k, name, field, s)
			}
		}
		for name, n := range map[string]struct {
			v   float64
			bit uint16
		}{
			"duration_s": {it.DurationS, schemas.HasDuration}, "amount": {it.Amount, schemas.HasAmount},
			"list_price": {it.ListPrice, schemas.HasListPrice}, "discount_pct": {it.DiscountPct, schemas.HasDiscount},
		} {
			x, present := m[name].(float64)
			if present != (it.Has&n.bit != 0) || present && math.Float64bits(x) != math.Float64bits(n.v) {
				t.Errorf("event %d %s %v (present %v), json.Unmarshal %v", k, name, n.v, it.Has&n.bit != 0, m[name])
			}
		}
		if a, present := m["approved"].(bool); present != (it.Has&schemas.HasApproved != 0) || a != it.Approved {
			t.Errorf("event %d approved %v, json.Unmarshal %v", k, it.Approved, m["approved"])
		}
		c, _ := m["contact"].(map[string]any)
		if (schemas.Contact{Email: fieldStr(c, "email"), Phone: fieldStr(c, "phone"), Mobile: fieldStr(c, "mobile"),
			Name: fieldStr(c, "name"), Country: fieldStr(c, "country")}) != it.Contact {
			t.Errorf("event %d contact %+v, json.Unmarshal %v", k, it.Contact, c)
		}
		attrs := map[string]string{}
		a, _ := m["attributes"].(map[string]any)
		for key, val := range a {
			if s, ok := val.(string); ok {
				attrs[key] = s
			}
		}
		if len(attrs) != len(it.Attributes) || len(attrs) > 0 && !reflect.DeepEqual(attrs, it.Attributes) {
			t.Errorf("event %d attributes %v, json.Unmarshal %v", k, it.Attributes, a)
		}
	}
}

func fieldStr(m map[string]any, name string) string {
	s, _ := m[name].(string)
	return s
}

// unknownCounts returns the unknown-field counts by label.
func unknownCounts(d *Decoder) map[string]float64 {
	out := map[string]float64{"other": testutil.ToFloat64(d.m.other)}
	d.m.mu.Lock()
	defer d.m.mu.Unlock()
	for name, c := range d.m.fields {
		out[name] = testutil.ToFloat64(c)
	}
	return out
}

// TestFastPathTakesTypicalEvents guards the speed-up: typical events must
// not fall back to the reference decoder, alone, in an array, or indented.
func TestFastPathTakesTypicalEvents(t *testing.T) {
	d := NewDecoder(nil)
	s := d.pool.Get().(*state)
	lines := readLines(t, "typical.jsonl")
	for _, l := range lines {
		if _, ok := s.fast(nil, l); !ok {
			t.Errorf("fast path declined %s", l)
		}
	}
	array := append(append([]byte("[\n"), bytes.Join(lines, []byte(" ,\r\n\t"))...), "\n] "...)
	var indented bytes.Buffer
	if err := json.Indent(&indented, array, "", "\t"); err != nil {
		t.Fatal(err)
	}
	for _, rec := range [][]byte{array, indented.Bytes()} {
		out, ok := s.fast(nil, rec)
		if !ok || len(out) != len(lines) {
			t.Fatalf("fast path declined (%v) or lost events (%d of %d) of\n%s", !ok, len(out), len(lines), rec)
		}
		for k, l := range lines {
			ref, err := s.decode(nil, l)
			if err != nil {
				t.Fatal(err)
			}
			if !equalInteraction(out[k], ref[0]) {
				t.Errorf("element %d differs from the reference decoding of its line\n got %+v\nwant %+v", k, out[k], ref[0])
			}
		}
	}
}

func TestScanNumberMatchesParseFloat(t *testing.T) {
	for _, in := range []string{"0", "-0", "1", "9.95", "0.001", "312.5", "123456789012345", "1234567890123456",
		"0.1", "0.30000000000000004", "4.35", "1e3", "-1.5E+3", "99999999999999.9", "900.5", "33.333333333333336"} {
		var it schemas.Interaction
		var seen uint32
		s := NewDecoder(nil).pool.Get().(*state)
		b := []byte(in)
		end, ok := s.fastNumber(b, 0, &it.Amount, &it.Has, schemas.HasAmount, &seen, bAmount)
		if !ok || end != len(b) {
			t.Errorf("%s: ok=%v end=%d", in, ok, end)
			continue
		}
		want, _ := strconv.ParseFloat(in, 64)
		if math.Float64bits(it.Amount) != math.Float64bits(want) {
			t.Errorf("%s: got %v, want %v", in, it.Amount, want)
		}
	}
}

// TestDecodeConcurrently: workers share one Decoder (its pooled scratch
// state must not leak between calls), on valid and invalid records alike.
func TestDecodeConcurrently(t *testing.T) {
	d := NewDecoder(prometheus.NewRegistry())
	var records [][]byte
	for _, l := range readLines(t, "typical.jsonl") {
		records = append(records, l, bytes.Replace(l, []byte(`"source":"`), []byte(`"source":7,"s":"`), 1))
	}
	want := make([]string, len(records))
	for k, r := range records {
		out, err := d.Decode(nil, r)
		want[k] = fmt.Sprint(out, err)
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			var dst []schemas.Interaction
			for n := range 500 {
				k := (n + w) % len(records)
				out, err := d.Decode(dst[:0], records[k])
				if got := fmt.Sprint(out, err); got != want[k] {
					t.Errorf("record %d: got %s, want %s", k, got, want[k])
					return
				}
				dst = out
			}
		})
	}
	wg.Wait()
}
