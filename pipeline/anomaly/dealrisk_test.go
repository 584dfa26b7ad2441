package anomaly

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/pipeline/anomaly/dealscore"
	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/gen"
)

// generatedDeals is the generator's canonical stream of one team over
// days, with its org.
func generatedDeals(t testing.TB, seed uint64, days int) ([]schemas.Interaction, *schemas.Index) {
	t.Helper()
	cfg := gen.DefaultConfig()
	cfg.Seed, cfg.Days, cfg.Teams = seed, days, 1
	g, err := gen.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out []schemas.Interaction
	var i schemas.Interaction
	for {
		if _, ok := g.Next(&i); !ok {
			break
		}
		i.Normalize()
		c := i
		c.Attributes = nil
		out = append(out, c)
	}
	return out, schemas.NewIndex(g.Org())
}

var (
	modelOnce sync.Once
	model     *dealscore.Model
)

// trainedModel is a model trained on 120 generated days of 4 teams (the
// same model for every test of the package).
func trainedModel(t testing.TB) *dealscore.Model {
	t.Helper()
	modelOnce.Do(func() {
		cfg := gen.DefaultConfig()
		cfg.Seed, cfg.Days = 11, 120
		g, err := gen.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		tr := dealscore.NewTracker()
		var i schemas.Interaction
		for {
			if _, ok := g.Next(&i); !ok {
				break
			}
			i.Normalize()
			tr.Apply(&i)
		}
		if model, err = dealscore.Train(tr.Examples, dealscore.TrainOptions{}); err != nil {
			t.Fatal(err)
		}
	})
	if model == nil {
		t.Fatal("no model")
	}
	return model
}

// dealRows renders a batch's deal rows for comparison.
func dealRows(b *schemas.Batch) string {
	var sb strings.Builder
	for _, a := range b.Aggregates {
		switch rs := a.Rows.(type) {
		case schemas.DealFeatureRows:
			for _, r := range rs {
				r.At = r.At.UTC()
				fmt.Fprintf(&sb, "F%v\n", r)
			}
		case schemas.DealScoreRows:
			for _, r := range rs {
				r.At = r.At.UTC()
				fmt.Fprintf(&sb, "S%v\n", r)
			}
		}
	}
	return sb.String()
}

// TestDealFeaturesThroughTheStage runs 60 generated days through the
// anomaly stage in random batches, crashing now and then (a new stage
// restoring from the state store at the last committed batch): every
// batch's deal rows and alerts equal an uninterrupted run's, and the
// features of every closed deal equal the tracker's (which
// dealscore.TestFeaturesMatchBruteForce holds to a brute-force count).
func TestDealFeaturesThroughTheStage(t *testing.T) {
	evs, idx := generatedDeals(t, 21, 60)
	m := trainedModel(t)
	tr := dealscore.NewTracker()
	for k := range evs {
		tr.Apply(&evs[k])
	}
	batches := cutBatches(5, [][]schemas.Interaction{evs})[0]
	cfg := Config{}
	newStage := func(env *storeEnv) *Stage {
		deps := Deps{DealModel: m}
		if env != nil {
			deps.State = env
		}
		d, err := New(cfg, nil, idx, deps, prometheus.NewRegistry(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return d.NewStage()
	}
	run := func(s *Stage, tb testBatch) (string, string) {
		b := schemas.NewBatch(tb.origin, nil)
		b.Interactions = append(b.Interactions, tb.events...)
		if err := s.Process(t.Context(), b); err != nil {
			t.Fatal(err)
		}
		return dealRows(b), render(b.Alerts)
	}

	ref := newStage(nil)
	want := make([]string, len(batches))
	var closes []schemas.DealFeatureRow
	scores, alerts := 0, 0
	for k, tb := range batches {
		b := schemas.NewBatch(tb.origin, nil)
		b.Interactions = append(b.Interactions, tb.events...)
		if err := ref.Process(t.Context(), b); err != nil {
			t.Fatal(err)
		}
		want[k] = dealRows(b) + render(b.Alerts)
		for _, a := range b.Aggregates {
			switch rs := a.Rows.(type) {
			case schemas.DealFeatureRows:
				for _, r := range rs {
					if r.Event == "won" || r.Event == "lost" {
						closes = append(closes, r)
					}
				}
			case schemas.DealScoreRows:
				scores += len(rs)
			}
		}
		for _, a := range b.Alerts {
			if a.Rule == RuleDealAtRisk {
				alerts++
			}
		}
	}
	if len(closes) != len(tr.Examples) || len(closes) < 300 {
		t.Fatalf("the stage wrote %d closes, the tracker saw %d", len(closes), len(tr.Examples))
	}
	for k, r := range closes {
		e := tr.Examples[k]
		if r.OpportunityID != e.ID || r.At.UnixMilli() != e.At || r.Features != e.X || (r.Event == "won") != e.Won {
			t.Fatalf("close %d: stage %+v, tracker %+v", k, r, e)
		}
	}
	t.Logf("%d batches, %d closes, %d scores, %d deal_at_risk transitions", len(batches), len(closes), scores, alerts)
	if alerts == 0 {
		t.Error("no deal_at_risk on 60 generated days")
	}

	env := newStoreEnv()
	s := newStage(env)
	r := rand.New(rand.NewPCG(5, 6))
	crashes := 0
	for k := 0; k < len(batches); {
		rows, as := run(s, batches[k])
		if got := rows + as; got != want[k] {
			t.Fatalf("batch %d (%s) after %d crashes:\n got  %s\n want %s", k, batches[k].origin, crashes, got, want[k])
		}
		k++
		if k < len(batches) {
			env.commit(0, batches[k].origin.FirstOffset)
		}
		if r.IntN(20) == 0 {
			crashes++
			s = newStage(env)
		}
	}
	if crashes == 0 {
		t.Fatal("no crash")
	}
}

// TestDealAtRiskFiresWithReasons: a deal that had meetings goes quiet;
// its daily rescores drop and deal_at_risk pages the rep's manager with
// the reasons in words; the close resolves it.
//
// The model is made by hand, so the test says what the detector does with
// any model: meetings in the last 7 and 30 days and the stage count, a
// deal at the average has two meetings in each window.
func TestDealAtRiskFiresWithReasons(t *testing.T) {
	m := &dealscore.Model{Features: dealscore.Names[:], Mean: make([]float64, dealscore.NumFeatures),
		Scale: make([]float64, dealscore.NumFeatures), Coef: make([]float64, dealscore.NumFeatures), Intercept: 0.2}
	for j := range m.Scale {
		m.Scale[j] = 1
	}
	m.Coef[dealscore.FMeetings7d], m.Coef[dealscore.FMeetings30d], m.Coef[dealscore.FStage] = 0.4, 0.3, 0.3
	m.Mean[dealscore.FMeetings7d], m.Mean[dealscore.FMeetings30d], m.Mean[dealscore.FStage] = 2, 2, 2
	h := newHarnessDeps(t, Config{DealRisk: DealRiskConfig{Drop: 0.1}}, Deps{DealModel: m})
	at := t0
	ev := func(typ schemas.Type, d time.Duration) schemas.Interaction {
		i := schemas.Interaction{Type: typ, OccurredAt: at.Add(d), RepID: "ae-1", TeamID: "team-01", AccountID: "acc-9", Channel: typ.DefaultChannel()}
		switch typ {
		case schemas.TypeOpportunityStageChanged:
			i.Stage = "proposal"
		case schemas.TypeQuoteCreated:
			i.Has, i.DiscountPct = schemas.HasDiscount, 5
		}
		return i
	}
	var got []schemas.Alert
	got = append(got, h.run(ev(schemas.TypeOpportunityStageChanged, 0), ev(schemas.TypeMeetingHeld, time.Hour),
		ev(schemas.TypeMeetingHeld, 26*time.Hour), ev(schemas.TypeQuoteCreated, 27*time.Hour), ev(schemas.TypeMeetingHeld, 50*time.Hour))...)
	// Forty quiet days at this account; another account's events move
	// the watermark, and the rescores fall due.
	for d := 3; d <= 45; d++ {
		other := ev(schemas.TypeCallOutbound, time.Duration(d)*24*time.Hour)
		other.AccountID = "acc-other"
		got = append(got, h.run(other)...)
	}
	got = append(got, h.run(ev(schemas.TypeDealLost, 46*24*time.Hour))...)
	var risk []schemas.Alert
	for _, a := range got {
		if a.Rule == RuleDealAtRisk {
			risk = append(risk, a)
		}
	}
	if len(risk) != 2 || risk[0].State != schemas.AlertFiring || risk[1].State != schemas.AlertResolved {
		t.Fatalf("deal_at_risk transitions %v", brief(risk))
	}
	a := risk[0]
	t.Logf("%s | %v", a.Summary, a.Values)
	if a.ManagerID != "mgr-01" || a.RepID != "ae-1" || a.Values["account_id"] != "acc-9" {
		t.Errorf("routed to %q for %q", a.ManagerID, a.RepID)
	}
	if !strings.Contains(a.Values["reasons"], "meeting") || !strings.Contains(a.Values["reasons"], "(−") {
		t.Errorf("reasons %q do not say that the meetings stopped, signed", a.Values["reasons"])
	}
	if risk[1].Values["closed"] != "lost" {
		t.Errorf("resolution %v", risk[1].Values)
	}
	if ep := h.stage.Partition("in", 0).Episode(RuleDealAtRisk + "\x00" + a.Values["opportunity_id"]); ep != nil {
		t.Errorf("the closed deal's episode is kept: %+v", ep.Alert)
	}
	if a.Values["drop"] == "" || a.Values["probability"] == "" || a.Values["peak"] == "" {
		t.Errorf("evidence %v", a.Values)
	}
}
