package gen

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/salespulse/salespulse/schemas"
)

// Forecasts (ForecastConfig): every seller and every team submits commit,
// best case and pipeline amounts per period, in their team's time zone.
// They draw from their own random source, so turning them on or off
// changes no other event of the stream, and take their own ids
// (gen-<seed>-f<n>), so the other events keep theirs.

// Submissions per period, relative to the period's first local day.
var fcSubmissions = [...]struct {
	days, hour int
}{
	{-7, 16}, // draft
	{-2, 16}, // final: the snapshot
	{3, 10},  // revision after the period started: not in the snapshot
}

var fcCategories = [...]string{schemas.ForecastCommit, schemas.ForecastBestCase, schemas.ForecastPipeline}

type forecaster struct {
	on     bool
	kind   schemas.PeriodKind
	rng    *rand.Rand
	seq    uint64
	prefix string // "gen-<seed>-f"
	idBuf  []byte
	teams  []fcTeam
	work   map[time.Weekday]bool
}

type fcTeam struct {
	id    string
	site  *siteState
	bias  float64
	reps  []int32
	begin int64 // the team's first working instant: run rates count from it
}

func (g *Generator) initForecasts() {
	c := &g.cfg.Forecasts
	if c.Disabled {
		return
	}
	f := &g.fc
	f.on = true
	f.kind = schemas.PeriodMonth
	if c.Period == "quarter" {
		f.kind = schemas.PeriodQuarter
	}
	f.rng = rand.New(rand.NewPCG(g.cfg.Seed, 0x666f7265636173)) // "forecas"
	f.prefix = "gen-" + strconv.FormatUint(g.cfg.Seed, 10) + "-f"
	f.work = map[time.Weekday]bool{}
	for _, w := range g.cfg.WorkDays {
		f.work[weekdays[strings.ToLower(w)]] = true
	}
	byTeam := map[string]int{}
	for k, t := range g.org.Teams {
		byTeam[t.ID] = k
		f.teams = append(f.teams, fcTeam{id: t.ID, site: &g.sites[k%len(g.sites)], bias: c.TeamBias[k%len(c.TeamBias)]})
	}
	for k := range g.reps {
		t := &f.teams[byTeam[g.reps[k].team]]
		t.reps = append(t.reps, int32(k))
	}
	for k := range f.teams {
		t := &f.teams[k]
		t.begin = t.site.open(0)
		g.scheduleForecasts(int32(k), schemas.PeriodOf(f.kind, time.UnixMilli(t.begin), t.site.loc))
	}
}

// scheduleForecasts pushes team k's submissions for period p that fall
// within the generated days; the last one pushed schedules the next
// period when it comes due, so an endless run holds one period's items
// at a time. A period with none (all before the start) moves on at once.
func (g *Generator) scheduleForecasts(k int32, p schemas.Period) {
	t := &g.fc.teams[k]
	for {
		first := p.FirstDay()
		var ats []int64
		for _, sub := range fcSubmissions {
			// On a work day: drafts and finals the last one before, the
			// revision the first one after.
			d, step := sub.days, 1
			if d < 0 {
				step = -1
			}
			for n := 0; n < 7 && !g.fc.work[time.Date(first.Year(), first.Month(), first.Day()+d, 12, 0, 0, 0, t.site.loc).Weekday()]; n++ {
				d += step
			}
			at := time.Date(first.Year(), first.Month(), first.Day()+d, sub.hour, 0, 0, 0, t.site.loc).UnixMilli()
			if at >= t.begin && at < t.site.end {
				ats = append(ats, at)
			}
		}
		if len(ats) == 0 {
			if p.Start(t.site.loc).UnixMilli() >= t.site.end {
				return
			}
			p = p.Next()
			continue
		}
		label := p.String()
		for n, at := range ats {
			// One item per entity and category: the team's reps, then the
			// team (rep -1).
			ents := append(append([]int32(nil), t.reps...), -1)
			for e, rep := range ents {
				for c := range fcCategories {
					last := n == len(ats)-1 && e == len(ents)-1 && c == len(fcCategories)-1
					g.pushAt(item{at: at, rep: rep, acct: k, ref: label, lead: uint64(c), kind: kindForecast, first: last})
				}
			}
		}
		return
	}
}

// trackWon adds a won deal to its rep's closed won so far.
func (g *Generator) trackWon(r *repState, amount float64) {
	r.fcWon += amount
}

// forecast fills i with the submission it describes and returns its
// partition key (the rep, else the team).
func (g *Generator) forecast(it *item, i *schemas.Interaction) []byte {
	f := &g.fc
	t := &f.teams[it.acct]
	loc := t.site.loc
	p, _ := schemas.ParsePeriod(it.ref)
	if it.first {
		g.scheduleForecasts(it.acct, p.Next())
	}
	// The run rate since the team began, projected over p's length: what
	// a seller would extrapolate from their record, before bias and noise.
	span := float64(p.Next().Start(loc).UnixMilli() - p.Start(loc).UnixMilli())
	ents := t.reps
	if it.rep >= 0 {
		ents = []int32{it.rep}
	}
	var won, pipeline float64
	for _, k := range ents {
		r := &g.reps[k]
		won += r.fcWon
		for _, o := range r.opps {
			pipeline += o.list * (1 - o.disc/100)
		}
	}
	base := pipeline * g.cfg.WinRate // nothing won yet: the weighted open pipeline
	if el := float64(it.at - t.begin); won > 0 && el > 0 {
		base = won / el * span
	}
	noise := math.Exp(g.cfg.Forecasts.Noise * f.rng.NormFloat64())
	amount := base * t.bias * noise
	switch fcCategories[it.lead] {
	case schemas.ForecastBestCase:
		amount *= 1.25
	case schemas.ForecastPipeline:
		amount = pipeline
	}

	i.Type, i.Channel = schemas.TypeForecastSubmitted, schemas.ChannelCRM
	i.TeamID = t.id
	if it.rep >= 0 {
		i.RepID = g.reps[it.rep].id
	}
	i.Period, i.Stage = it.ref, fcCategories[it.lead]
	i.Has |= schemas.HasAmount
	i.Amount = round2(amount)
	i.Currency = t.site.currency

	f.seq++
	f.idBuf = strconv.AppendUint(append(f.idBuf[:0], f.prefix...), f.seq, 10)
	i.EventID = string(f.idBuf)
	g.stats.events++
	g.stats.byType[i.Type]++
	g.stats.last = it.at
	key := i.RepID
	if key == "" {
		key = i.TeamID
	}
	g.keyBuf = append(g.keyBuf[:0], key...)
	return g.keyBuf
}
