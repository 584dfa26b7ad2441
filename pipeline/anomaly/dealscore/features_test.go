package dealscore_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/salespulse/salespulse/pipeline/anomaly/dealscore"
	"github.com/salespulse/salespulse/schemas"
)

// bruteFeatures computes the features of the opportunity that event c
// (an index into all) belongs to, as of time at, from scratch: it finds
// the opportunity's opening by walking the account's events back from c
// to the previous close, and counts by scanning every event before c+1.
// It shares no code with the tracker but the feature order.
func bruteFeatures(all []schemas.Interaction, c int, at time.Time) (x dealscore.Vector, id string) {
	acct := all[c].AccountID
	isCRM := func(i *schemas.Interaction) bool {
		if i.AccountID != acct || i.LeadID != "" || i.PairOnly {
			return false
		}
		switch i.Type {
		case schemas.TypeOpportunityStageChanged, schemas.TypeQuoteCreated, schemas.TypeApprovalRequested,
			schemas.TypeApprovalDecided, schemas.TypeDealWon, schemas.TypeDealLost:
			return true
		}
		return false
	}
	isClose := func(i *schemas.Interaction) bool {
		return i.Type == schemas.TypeDealWon || i.Type == schemas.TypeDealLost
	}
	// The opening: the first CRM event of the account after the last
	// close before c (c itself when it is the first).
	open := c
	for k := c - 1; k >= 0; k-- {
		i := &all[k]
		if !isCRM(i) {
			continue
		}
		if isClose(i) {
			break
		}
		open = k
	}
	o := &all[open]
	id = acct + "/" + o.EventID
	t0, t := o.OccurredAt, at
	stageAt := t0
	firstOut := time.Time{}
	for k := 0; k <= c; k++ {
		i := &all[k]
		if i.AccountID != acct || i.LeadID != "" || i.PairOnly {
			continue
		}
		var ch = -1
		switch i.Type {
		case schemas.TypeMessageInbound, schemas.TypeMessageOutbound:
			ch = 0
		case schemas.TypeCallInbound, schemas.TypeCallOutbound:
			ch = 1
		case schemas.TypeSocialInbound, schemas.TypeSocialOutbound:
			ch = 2
		case schemas.TypeMeetingHeld:
			ch = 3
		}
		if ch >= 0 {
			age := t.Sub(i.OccurredAt)
			if age >= 0 && age < 7*24*time.Hour {
				x[dealscore.FEmail7d+ch]++
			}
			if age >= 0 && age < 30*24*time.Hour {
				x[dealscore.FEmail30d+ch]++
			}
			if k > open || !i.OccurredAt.Before(t0) {
				if !i.OccurredAt.Before(t0) {
					if ch == 3 {
						x[dealscore.FMeetings]++
					}
					if i.Type.Outbound() && firstOut.IsZero() {
						firstOut = i.OccurredAt
					}
				}
			}
			continue
		}
		if k < open {
			continue
		}
		switch i.Type {
		case schemas.TypeOpportunityStageChanged:
			stageAt = i.OccurredAt
			x[dealscore.FStage] = 0
			for s, n := range dealscore.Stages {
				if n == i.Stage {
					x[dealscore.FStage] = float64(s)
				}
			}
		case schemas.TypeQuoteCreated:
			if i.Has&schemas.HasDiscount != 0 {
				x[dealscore.FDiscountPct] = i.DiscountPct
			}
		case schemas.TypeApprovalRequested:
			x[dealscore.FApprovals]++
		case schemas.TypeApprovalDecided:
			if i.Has&schemas.HasApproved != 0 && !i.Approved {
				x[dealscore.FRejected]++
			}
		}
	}
	hours := func(d time.Duration) float64 { return float64(d.Milliseconds()) / 3600000 }
	days := func(d time.Duration) float64 { return float64(d.Milliseconds()) / 86400000 }
	if !firstOut.IsZero() && !firstOut.After(t) {
		x[dealscore.FFirstResponseH] = hours(firstOut.Sub(t0))
	} else {
		x[dealscore.FFirstResponseH] = hours(max(0, t.Sub(t0)))
	}
	x[dealscore.FStageAgeD] = days(max(0, t.Sub(stageAt)))
	x[dealscore.FCycleD] = days(max(0, t.Sub(t0)))
	return x, id
}

// TestFeaturesMatchBruteForce compares the tracker's features at every
// close of 60 generated days with the brute-force computation: exactly,
// float64 for float64.
func TestFeaturesMatchBruteForce(t *testing.T) {
	tr, all := generated(t, 3, 60, 2)
	closes := 0
	for c := range all {
		i := &all[c]
		if (i.Type != schemas.TypeDealWon && i.Type != schemas.TypeDealLost) || i.LeadID != "" || i.AccountID == "" {
			continue
		}
		want, id := bruteFeatures(all, c, i.OccurredAt)
		got := tr.Examples[closes]
		closes++
		if got.ID != id || got.X != want || got.Won != (i.Type == schemas.TypeDealWon) {
			t.Fatalf("close %s: tracker %s %v, brute force %s %v", i.EventID, got.ID, got.X, id, want)
		}
	}
	if closes != len(tr.Examples) || closes < 500 {
		t.Fatalf("%d closes, tracker has %d examples", closes, len(tr.Examples))
	}
	var nonzero [dealscore.NumFeatures]int
	for _, e := range tr.Examples {
		for j, v := range e.X {
			if v != 0 {
				nonzero[j]++
			}
		}
	}
	for j, n := range nonzero {
		if n == 0 {
			t.Errorf("feature %s is 0 at every close: the comparison proves nothing about it", dealscore.Names[j])
		}
	}
	t.Logf("%d closes compared; non-zero per feature %v", closes, nonzero)
}

// TestTrainingIsReproducible trains twice on the same deals, the second
// time handed in another order, and compares the model files byte for
// byte.
func TestTrainingIsReproducible(t *testing.T) {
	tr, _ := generated(t, 5, 60, 2)
	a := append([]dealscore.Example(nil), tr.Examples...)
	b := append([]dealscore.Example(nil), tr.Examples...)
	for l, r := 0, len(b)-1; l < r; l, r = l+1, r-1 {
		b[l], b[r] = b[r], b[l]
	}
	ma, err := dealscore.Train(a, dealscore.TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mb, err := dealscore.Train(b, dealscore.TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ja, _ := ma.Marshal()
	jb, _ := mb.Marshal()
	if !bytes.Equal(ja, jb) {
		t.Fatalf("two trainings on the same deals differ:\n%s\n%s", ja, jb)
	}
	back, err := dealscore.Unmarshal(ja)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range tr.Examples[:50] {
		if back.Probability(&e.X) != ma.Probability(&e.X) {
			t.Fatal("the model file does not read back to the same probabilities")
		}
	}
}

func TestExplainSaysWhy(t *testing.T) {
	tr, _ := generated(t, 5, 60, 2)
	m, err := dealscore.Train(tr.Examples, dealscore.TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// An average deal but for no meeting in 30 days and a 30 % discount.
	var x dealscore.Vector
	copy(x[:], m.Mean)
	x[dealscore.FMeetings7d], x[dealscore.FMeetings30d], x[dealscore.FMeetings], x[dealscore.FDiscountPct] = 0, 0, 0, 30
	p, rs := m.Explain(&x, 3)
	if len(rs) != 3 {
		t.Fatalf("%d reasons", len(rs))
	}
	for _, r := range rs {
		t.Logf("%s: %s", r.Feature, r.Text)
		if r.Text == "" || (r.Delta < 0) != (r.Logit < 0) {
			t.Errorf("reason %+v", r)
		}
	}
	t.Logf("p %.3f", p)
	neg := dealscore.Negative(rs)
	if len(neg) == 0 {
		t.Errorf("no meeting in 30 days and a 30 %% discount lower no score: %+v", rs)
	}
}
