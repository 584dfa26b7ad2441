package gen

import (
	"math"
	"testing"
	"time"

	"github.com/salespulse/salespulse/schemas"
)

// forecastConfig is the default org over six months: five whole forecast
// periods after the one the run starts in (fewer deals make a month's
// closed won too noisy to see a team's bias in).
func forecastConfig() Config {
	cfg := DefaultConfig()
	cfg.Days = 183
	return cfg
}

// TestForecasts: every seller and team submits the three categories per
// period in its zone, the snapshot (last before the period starts) is in
// the team's currency, and over the periods each team's commit is off by
// its bias: sandbaggers below closed won, over-forecasters above.
func TestForecasts(t *testing.T) {
	cfg := forecastConfig()
	events, g := generate(t, cfg)
	org := g.Org()
	locs := map[string]*time.Location{}
	for _, tm := range org.Teams {
		locs[tm.ID], _ = time.LoadLocation(tm.TimeZone)
	}
	type key struct{ team, period string }
	snap := map[key]float64{} // team commit snapshot
	snapAt := map[key]time.Time{}
	won := map[key]float64{}
	perCat := map[string]int{}
	for _, e := range events {
		in := e.i
		switch in.Type {
		case schemas.TypeForecastSubmitted:
			perCat[in.Stage]++
			p, ok := schemas.ParsePeriod(in.Period)
			if !ok || p.Kind != schemas.PeriodMonth {
				t.Fatalf("%s: period %q", in.EventID, in.Period)
			}
			if in.RepID != "" || in.Stage != schemas.ForecastCommit {
				continue
			}
			k := key{in.TeamID, in.Period}
			if in.OccurredAt.Before(p.Start(locs[in.TeamID])) && !in.OccurredAt.Before(snapAt[k]) {
				snap[k], snapAt[k] = in.Amount, in.OccurredAt
			}
		case schemas.TypeDealWon:
			p := schemas.PeriodOf(schemas.PeriodMonth, in.OccurredAt, locs[in.TeamID])
			won[key{in.TeamID, p.String()}] += in.Amount
		}
	}
	if perCat[schemas.ForecastCommit] == 0 || perCat[schemas.ForecastCommit] != perCat[schemas.ForecastBestCase] ||
		perCat[schemas.ForecastCommit] != perCat[schemas.ForecastPipeline] {
		t.Fatalf("submissions per category: %v", perCat)
	}
	// Bias per team over its periods with a snapshot and closed won.
	for k, tm := range org.Teams {
		var f, w float64
		n := 0
		for kk, s := range snap {
			p, _ := schemas.ParsePeriod(kk.period)
			end := time.Date(2026, 11, 2+cfg.Days, 0, 0, 0, 0, locs[kk.team])
			if kk.team == tm.ID && won[kk] > 0 && !p.Next().Start(locs[kk.team]).After(end) { // whole periods only
				t.Logf("%s %s: snapshot %.0f, closed won %.0f", kk.team, kk.period, s, won[kk])
				f, w, n = f+s, w+won[kk], n+1
			}
		}
		if n < 2 {
			t.Fatalf("%s: %d periods with a snapshot and closed won", tm.ID, n)
		}
		bias := cfg.Forecasts.TeamBias[k%len(cfg.Forecasts.TeamBias)]
		got := f / w
		t.Logf("%s: bias %.2f, forecast/closed won over %d periods %.2f", tm.ID, bias, n, got)
		if math.Abs(math.Log(got/bias)) > math.Log(1.2) {
			t.Errorf("%s: forecast/closed won %.2f, far from the team's bias %.2f", tm.ID, got, bias)
		}
	}
}

// TestForecastsChangeNothingElse: with forecasts off, the other events are
// the same, ids included.
func TestForecastsChangeNothingElse(t *testing.T) {
	cfg := forecastConfig()
	cfg.Days = 40
	on, _ := generate(t, cfg)
	cfg.Forecasts.Disabled = true
	off, _ := generate(t, cfg)
	k := 0
	for _, e := range on {
		if e.i.Type == schemas.TypeForecastSubmitted {
			continue
		}
		if k >= len(off) || e.i.EventID != off[k].i.EventID || !e.i.OccurredAt.Equal(off[k].i.OccurredAt) || e.i.Amount != off[k].i.Amount {
			t.Fatalf("event %d differs: %+v", k, e.i)
		}
		k++
	}
	if k != len(off) {
		t.Fatalf("%d other events with forecasts, %d without", k, len(off))
	}
}
