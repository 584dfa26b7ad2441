package outlier

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/salespulse/salespulse/pipeline/anomaly/detect"
	"github.com/salespulse/salespulse/schemas"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current code")

var measures = map[string]Measure{
	"discount": {Severity: schemas.SeverityWarning, Unit: "%", What: "discounts"},
	"response": {Severity: schemas.SeverityInfo, Unit: "s", What: "response times"},
}

// feeder publishes each interaction's DiscountPct as a measurement of the
// rule named by its Source: values no decoder would let through (NaN,
// −0, infinities) reach the outlier detector too.
type feeder struct{}

func (feeder) Kinds() []byte                                             { return nil }
func (feeder) NewState(p *detect.Partition, _ detect.Queue) detect.State { return feedState{p} }

type feedState struct{ p *detect.Partition }

func (f feedState) Apply(i *schemas.Interaction) {
	f.p.Observe(i.Source, i.RepID, i.TeamID, i.DiscountPct, i)
}
func (feedState) Encode(b []byte, _ detect.Key) ([]byte, bool) { return b, false }
func (feedState) Decode(detect.Key, *detect.Reader) error      { return nil }

// stream is n random measurements of 3 teams of 6 reps, two rules,
// drawn from regimes that change every few hundred values: continuous,
// few distinct values (ties), mostly zero (MAD 0: the mean-deviation
// fallback), negative, and now and then an infinity, a NaN or a −0. One
// rep per team drifts up and back, so alerts fire and resolve.
func stream(seed uint64, n int) []schemas.Interaction {
	rng := rand.New(rand.NewPCG(seed, 17))
	t := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	out := make([]schemas.Interaction, 0, n)
	regime := 0
	for k := range n {
		if k%300 == 0 {
			regime = rng.IntN(5)
		}
		team := rng.IntN(3)
		rep := rng.IntN(6)
		var x float64
		switch regime {
		case 0: // continuous
			x = 5 + rng.NormFloat64()*2
		case 1: // few distinct values
			x = float64(rng.IntN(4)) * 5
		case 2: // mostly zero
			if rng.IntN(8) == 0 {
				x = rng.Float64() * 30
			}
		case 3: // negative (a price above list)
			x = -rng.ExpFloat64() * 10
		default: // response times in seconds
			x = math.Floor(rng.ExpFloat64() * 3600)
		}
		if rep == 0 && (k/1000)%3 == 1 { // the drifting rep
			x = x*3 + 20
		}
		switch r := rng.IntN(400); {
		case r == 0:
			x = math.Inf(1)
		case r == 1:
			x = math.Inf(-1)
		case r == 2 && k > n/2: // only in the second half: a NaN stays in the windows for a while
			x = math.NaN()
		case r == 3:
			x = math.Copysign(0, -1)
		}
		t = t.Add(time.Second)
		out = append(out, schemas.Interaction{
			EventID: fmt.Sprintf("e%d", k), OccurredAt: t, Type: schemas.TypeQuoteCreated,
			Source: []string{"discount", "response"}[rng.IntN(2)],
			RepID:  fmt.Sprintf("rep-%d-%d", team, rep), TeamID: fmt.Sprintf("team-%d", team),
			DiscountPct: x,
		})
	}
	return out
}

// runAlerts feeds events through a runner of the feeder and the outlier
// detector in batches of 500 and renders every alert it emits, one line
// each.
func runAlerts(t testing.TB, cfg Config, events []schemas.Interaction) []string {
	t.Helper()
	r, err := detect.New(detect.Options{OutOfOrder: time.Minute}, []detect.Detector{feeder{}, New(&cfg, time.Hour, measures)}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := r.NewStage()
	var out []string
	for k := 0; k < len(events); k += 500 {
		b := schemas.NewBatch(schemas.Origin{Topic: "in", FirstOffset: int64(k), LastOffset: int64(min(k+500, len(events)) - 1)}, nil)
		b.Interactions = events[k:min(k+500, len(events))]
		if err := st.Process(t.Context(), b); err != nil {
			t.Fatal(err)
		}
		for _, a := range b.Alerts {
			var vs []string
			for _, k := range detect.SortedKeys(a.Values) {
				vs = append(vs, k+"="+a.Values[k])
			}
			// The summary repeats the values; the id is the first event's.
			out = append(out, fmt.Sprintf("%s %s %s %s %s %s", a.At.Format(time.TimeOnly), a.EventIDs[0], a.Rule, a.State, a.RepID, strings.Join(vs, " ")))
		}
	}
	return out
}

// TestAlertsGolden pins the alerts of random streams, with the default
// windows and with small ones (odd and even sizes): the z-score's
// arithmetic may change only if every alert, its values and summary stay
// the same. Regenerate with -update only for a change meant to alter them.
func TestAlertsGolden(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  Config
	}{
		{"default", Config{Threshold: 3.5, ClearBelow: 2.8, TeamWindow: 200, RepWindow: 10, MinTeamSamples: 50, MinRepSamples: 8}},
		{"small", Config{Threshold: 2, ClearBelow: 1.6, TeamWindow: 31, RepWindow: 4, MinTeamSamples: 9, MinRepSamples: 3}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := []byte(strings.Join(runAlerts(t, c.cfg, stream(1, 12000)), "\n") + "\n")
			path := "testdata/alerts-" + c.name + ".golden"
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
				for k := range min(len(g), len(w)) {
					if g[k] != w[k] {
						t.Fatalf("alert %d:\n  got  %s\n  want %s", k, g[k], w[k])
					}
				}
				t.Fatalf("%d alerts, want %d", len(g)-1, len(w)-1)
			}
		})
	}
}

// TestRestoreRebuildsSorted: the checkpoint holds a ring's values in
// arrival order only; a ring decoded from it must score every value as the
// ring it was encoded from, bit for bit, NaN and −0 included.
func TestRestoreRebuildsSorted(t *testing.T) {
	cfg := Config{Threshold: 2, ClearBelow: 1.6, TeamWindow: 31, RepWindow: 4, MinTeamSamples: 9, MinRepSamples: 3}
	r, err := detect.New(detect.Options{OutOfOrder: time.Minute}, []detect.Detector{feeder{}, New(&cfg, time.Hour, measures)}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := r.NewStage()
	events := stream(2, 12000)
	same := func(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }
	for k := 0; k < len(events); k += 500 {
		b := schemas.NewBatch(schemas.Origin{Topic: "in", FirstOffset: int64(k), LastOffset: int64(k + 499)}, nil)
		b.Interactions = events[k : k+500]
		if err := st.Process(t.Context(), b); err != nil {
			t.Fatal(err)
		}
		p := st.Partition("in", 0)
		q := r.NewPartition(b.Origin)
		from, to := p.States()[1].(*part), q.States()[1].(*part)
		for _, key := range from.Keys() {
			if err := q.Decode(key, p.Encode(nil, key)); err != nil {
				t.Fatal(err)
			}
			a, b := from.ring(key), to.ring(key)
			for _, x := range []float64{0, 3, -7.5, 1e6, math.Inf(1), math.NaN()} {
				za, ma, sa, oka := a.sorted.Z(x, a.v, nil)
				zb, mb, sb, okb := b.sorted.Z(x, b.v, nil)
				if !same(za, zb) || !same(ma, mb) || !same(sa, sb) || oka != okb {
					t.Fatalf("%q after %d events, x %v: %v %v %v %v, restored %v %v %v %v", key.ID, k+500, x, za, ma, sa, oka, zb, mb, sb, okb)
				}
			}
			if ma, mb := a.sorted.Median(a.v, nil), b.sorted.Median(b.v, nil); !same(ma, mb) {
				t.Fatalf("%q after %d events: median %v, restored %v", key.ID, k+500, ma, mb)
			}
		}
	}
}

// BenchmarkObserve is one measurement scored against the default windows
// (team 200, rep 10) of 3 teams of 6 reps: discounts as the generator
// draws them (30 % zero, the others in steps of 0.5 points: many ties),
// response times (lognormal, median 18 minutes, in milliseconds) and
// mostly-zero values (MAD 0: the mean-deviation fallback).
//
//	go test ./pipeline/anomaly/outlier -run '^$' -bench Observe -count 8 | tee new.txt
//	benchstat old.txt new.txt
func BenchmarkObserve(b *testing.B) {
	for _, c := range []struct {
		name  string
		value func(*rand.Rand) float64
	}{
		{"discount", func(r *rand.Rand) float64 {
			switch u := r.Float64(); {
			case u < 0.30:
				return 0
			case u < 0.33:
				return 34.5 + 0.5*float64(1+r.IntN(31))
			case u < 0.45:
				return 15 + 0.5*float64(1+r.IntN(20))
			}
			return 0.5 * float64(1+r.IntN(30))
		}},
		{"response", func(r *rand.Rand) float64 { return math.Round(1080e3*math.Exp(r.NormFloat64())) / 1e3 }},
		{"mostly-zero", func(r *rand.Rand) float64 {
			if r.IntN(8) == 0 {
				return r.Float64() * 30
			}
			return 0
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			// No threshold is crossed: a transition would need a batch to
			// emit into, and is not what is measured.
			cfg := Config{Threshold: math.Inf(1), ClearBelow: 2.8, TeamWindow: 200, RepWindow: 10, MinTeamSamples: 50, MinRepSamples: 8}
			r, err := detect.New(detect.Options{}, []detect.Detector{New(&cfg, time.Hour, measures)}, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			p := r.NewPartition(schemas.Origin{Topic: "in"})
			s := p.States()[0].(*part)
			rng := rand.New(rand.NewPCG(1, 2))
			const n = 4096
			xs := make([]float64, n)
			for k := range xs {
				xs[k] = c.value(rng)
			}
			var reps, teams []string
			for k := range 18 {
				reps = append(reps, fmt.Sprintf("rep-%d", k))
				teams = append(teams, fmt.Sprintf("team-%d", k%3))
			}
			i := &schemas.Interaction{EventID: "e", OccurredAt: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
			m := measures["discount"]
			for k := range 2000 { // fill the windows
				s.observe("discount", m, reps[k%18], teams[k%18], xs[k%n], i)
			}
			b.ReportAllocs()
			k := 0
			for b.Loop() {
				s.observe("discount", m, reps[k%18], teams[k%18], xs[k%n], i)
				k++
			}
		})
	}
}

// BenchmarkRingBytes reports the heap one full ring holds (its struct, its
// values and whatever it keeps beside them), for the default team and rep
// windows: 1000 rings, each pushed one and a half windows of values.
//
//	go test ./pipeline/anomaly/outlier -run '^$' -bench RingBytes -benchtime 3x -count 3
func BenchmarkRingBytes(b *testing.B) {
	for _, size := range []int{200, 10} {
		b.Run(fmt.Sprintf("window-%d", size), func(b *testing.B) {
			const n = 1000
			var perRing float64
			for b.Loop() {
				rs := make([]*ring, n)
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				for k := range rs {
					rs[k] = &ring{size: size}
					for j := range size + size/2 {
						rs[k].push(float64(j % 7))
					}
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				runtime.KeepAlive(rs)
				perRing = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
			}
			b.ReportMetric(perRing, "B/ring")
		})
	}
}
