package anomaly

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/salespulse/salespulse/pipeline/anomaly/detect"
	"github.com/salespulse/salespulse/schemas"
)

// A held event comes back as apply reads it: time, type, channel and the
// six ids, empty ones and multi-byte ones included, whatever the form's
// neighbours in its buffer.
func TestHeldFormRoundTrip(t *testing.T) {
	events := []schemas.Interaction{
		{EventID: "ev-1", LeadID: "L1", RepID: "ae-1", TeamID: "team-01", ApprovalID: "apr-1", ApproverID: "mgr-01",
			Type: schemas.TypeCallInbound, Channel: schemas.ChannelPhone, OccurredAt: t0.Add(time.Millisecond)},
		{EventID: "ev-2", LeadID: "Lé-ü", Type: schemas.TypeLeadCreated, Channel: schemas.ChannelCRM, OccurredAt: t0},
		{EventID: string(make([]byte, 300)), TeamID: "t", Type: schemas.TypeMeetingHeld, OccurredAt: t0.Add(-time.Hour)},
	}
	var buf []byte
	var ends []int
	for k := range events {
		buf = appendHeld(buf, &events[k])
		ends = append(ends, len(buf))
	}
	from := 0
	for k, want := range events {
		form := buf[from:ends[k]]
		from = ends[k]
		var got schemas.Interaction
		if err := readHeld(form, &got); err != nil {
			t.Fatalf("event %d: %v", k, err)
		}
		want.OccurredAt = want.OccurredAt.UTC()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("event %d:\n got  %+v\n want %+v", k, got, want)
		}
		if id := string(heldID(form)); id != want.EventID {
			t.Errorf("event %d: heldID %q, want %q", k, id, want.EventID)
		}
		r := detect.NewReader(form)
		if at := skipHeld(r); at != want.OccurredAt.UnixMilli() || r.Done(detect.Key{Kind: kindHeld}) != nil {
			t.Errorf("event %d: skipHeld %d (rest %d bytes), want %d", k, at, len(r.Rest()), want.OccurredAt.UnixMilli())
		}
	}
	var got schemas.Interaction
	if err := readHeld(buf[:ends[0]-1], &got); err == nil {
		t.Error("a truncated form read without error")
	}
}

// Held events of the same millisecond are applied in event-id order, not
// in arrival order, so every interleaving of the upstreams pages the same:
// a creation and its answer in one millisecond page only when the answer's
// id sorts first.
func TestLeadSLAHeldTiesByEventID(t *testing.T) {
	for _, tc := range []struct {
		created, answer string
		want            []string
	}{
		{"a-created", "b-answer", nil},
		{"b-created", "a-answer", []string{"lead_response_sla firing L1", "lead_response_sla_escalated firing L1"}},
	} {
		for _, answerFirst := range []bool{false, true} {
			created := leadEv(schemas.TypeLeadCreated, "L1", "ae-1", t0, schemas.ChannelCRM)
			created.EventID = tc.created
			answer := leadEv(schemas.TypeCallOutbound, "L1", "ae-1", t0, schemas.ChannelPhone)
			answer.EventID = tc.answer
			events := []schemas.Interaction{created, answer}
			if answerFirst {
				events[0], events[1] = events[1], events[0]
			}
			st := progressStage(t, newStoreEnv())
			var alerts []schemas.Alert
			for k, bt := range []struct {
				progress time.Duration
				events   []schemas.Interaction
			}{{-time.Minute, events}, {5 * time.Hour, []schemas.Interaction{tick(t0.Add(5 * time.Hour))}}} {
				b := schemas.NewBatch(schemas.Origin{Topic: "in", FirstOffset: int64(10 * k), LastOffset: int64(10*k + 1)}, nil)
				b.Interactions = append(b.Interactions, bt.events...)
				b.Progress = t0.Add(bt.progress)
				if err := st.Process(t.Context(), b); err != nil {
					t.Fatal(err)
				}
				alerts = append(alerts, b.Alerts...)
			}
			expect(t, alerts, tc.want...)
		}
	}
}

// heldBatchOf returns n held events merged from upstreams partitions (each
// in time order, spread apart), with event ids that tie within a
// millisecond in any order.
func heldBatchOf(n, upstreams int, spread int64) []heldEvent {
	rng := rand.New(rand.NewPCG(uint64(n), uint64(upstreams)))
	es := make([]heldEvent, n)
	for k := range es {
		at := t0.Add(time.Duration(int64(k/upstreams)+int64(k%upstreams)*spread) * time.Millisecond)
		i := schemas.Interaction{EventID: fmt.Sprintf("ev-%d", rng.IntN(1000)), OccurredAt: at}
		es[k] = heldEvent{at: at.UnixMilli(), form: appendHeld(nil, &i)}
	}
	return es
}

// sortHeld orders as cmpHeld does: packed, with ties, and through the
// fallback for spans too wide to pack.
func TestSortHeld(t *testing.T) {
	var keys []uint64
	var tmp []heldEvent
	for _, c := range []struct {
		name         string
		n, upstreams int
		spread       int64
		tooWide      bool
	}{
		{name: "one", n: 1, upstreams: 1},
		{name: "in order", n: 300, upstreams: 1},
		{name: "12 upstreams", n: 2000, upstreams: 12, spread: 300},
		{name: "ties", n: 500, upstreams: 50, spread: 0},
		{name: "too wide to pack", n: 300, upstreams: 3, tooWide: true},
	} {
		es := heldBatchOf(c.n, c.upstreams, c.spread)
		if c.tooWide {
			es[0].at, es[1].at = math.MinInt64/2, math.MaxInt64/2
		}
		want := slices.Clone(es)
		slices.SortStableFunc(want, cmpHeld)
		keys, tmp = sortHeld(es, keys, tmp)
		for k := range es {
			if es[k].at != want[k].at || !bytes.Equal(heldID(es[k].form), heldID(want[k].form)) {
				t.Fatalf("%s: event %d is (%d, %s), want (%d, %s)", c.name, k, es[k].at, heldID(es[k].form), want[k].at, heldID(want[k].form))
			}
		}
	}
}

// BenchmarkSortHeld: one batch's 2,000 due events from 12 interleaved
// upstreams, sorted with cmpHeld (before) and by sortHeld.
func BenchmarkSortHeld(b *testing.B) {
	src := heldBatchOf(2000, 12, 300)
	es := make([]heldEvent, len(src))
	b.Run("cmpHeld", func(b *testing.B) {
		for b.Loop() {
			copy(es, src)
			slices.SortFunc(es, cmpHeld)
		}
	})
	b.Run("sortHeld", func(b *testing.B) {
		var keys []uint64
		var tmp []heldEvent
		for b.Loop() {
			copy(es, src)
			keys, tmp = sortHeld(es, keys, tmp)
		}
	})
}
