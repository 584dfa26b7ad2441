package dealscore_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/salespulse/salespulse/pipeline/anomaly/dealscore"
	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/gen"
)

// generated runs the generator's canonical stream through a tracker.
func generated(t testing.TB, seed uint64, days, teams int) (*dealscore.Tracker, []schemas.Interaction) {
	t.Helper()
	cfg := gen.DefaultConfig()
	cfg.Seed, cfg.Days, cfg.Teams = seed, days, teams
	g, err := gen.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tr := dealscore.NewTracker()
	var all []schemas.Interaction
	var i schemas.Interaction
	for {
		if _, ok := g.Next(&i); !ok {
			break
		}
		i.Normalize()
		tr.Apply(&i)
		c := i
		c.Attributes = nil
		all = append(all, c)
	}
	return tr, all
}

func TestEvaluationBeatsBaseRate(t *testing.T) {
	tr, _ := generated(t, 7, 120, 4)
	ex := tr.Examples
	split := dealscore.SplitAt(ex, 0.7)
	r, _, err := dealscore.Evaluate(ex, split, dealscore.TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	r.Print(&b)
	t.Log("\n" + b.String())
	if r.Model.AUC < r.Base.AUC+0.1 || r.Model.Brier >= r.Base.Brier {
		t.Errorf("deal score AUC %.4f Brier %.4f does not beat the base rate's AUC %.4f Brier %.4f by the margin", r.Model.AUC, r.Model.Brier, r.Base.AUC, r.Base.Brier)
	}
	_ = time.Second
}
