package gen

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/salespulse/salespulse/schemas"
)

// signalState is what the generator keeps for market signals: their own
// random source, so enabling them leaves every other draw as it was.
type signalState struct {
	rng  *rand.Rand
	end  int64 // unix ms: no signal at or after it
	next uint64
}

// startSignals schedules the accounts' ownership at the start and the
// first signal, when Config.Signals asks for signals.
func (g *Generator) startSignals() {
	if g.cfg.Signals.PerDay <= 0 || len(g.accounts) == 0 {
		return
	}
	g.sig.rng = rand.New(rand.NewPCG(g.cfg.Seed, 0x7369676e616c73)) // "signals"
	g.sig.end = math.MaxInt64
	for k := range g.sites {
		g.sig.end = min(g.sig.end, g.sites[k].end)
	}
	start := g.cfg.Start.UnixMilli()
	g.pushAt(item{at: start, acct: 0, rep: 0, kind: kindAccount})
	g.scheduleSignal(start)
}

// accountUpdated emits account it.acct's owner (the rep whose territory
// it is) and domain, and schedules the next account at the same instant.
func (g *Generator) accountUpdated(it *item, i *schemas.Interaction) {
	a := &g.accounts[it.acct]
	r := &g.reps[int(it.acct)/accountsPerRep]
	i.Type, i.Channel, i.AccountID, i.RepID, i.TeamID = schemas.TypeAccountUpdated, schemas.ChannelCRM, a.id, r.id, r.team
	if i.Attributes == nil {
		i.Attributes = make(map[string]string, 1)
	}
	i.Attributes[schemas.AttrAccountDomain] = a.domain
	if n := it.acct + 1; int(n) < len(g.accounts) {
		g.pushAt(item{at: it.at, acct: n, rep: int32(int(n) / accountsPerRep), kind: kindAccount})
	}
}

// signalKinds are drawn with these weights: news most often.
var signalKinds = [...]struct {
	kind string
	cum  float64
}{{schemas.SignalExecutiveChange, 0.2}, {schemas.SignalFundingRound, 0.4}, {schemas.SignalHiringSurge, 0.6}, {schemas.SignalNews, 1}}

// signal emits a market signal about a random account (or, for
// UnmatchedShare of them, a company no account has) and schedules the
// next.
func (g *Generator) signal(it *item, i *schemas.Interaction) {
	s := &g.sig
	s.next++
	n := strconv.FormatUint(s.next, 10)
	u := s.rng.Float64()
	kind := schemas.SignalNews
	for _, k := range signalKinds {
		if u < k.cum {
			kind = k.kind
			break
		}
	}
	domain := ""
	if s.rng.Float64() < g.cfg.Signals.UnmatchedShare {
		domain = "prospect-" + n + ".example.org"
	} else {
		domain = g.accounts[s.rng.IntN(len(g.accounts))].domain
	}
	i.Type, i.Channel, i.RepID, i.TeamID = schemas.TypeAccountSignal, schemas.ChannelCRM, "", ""
	if i.Attributes == nil {
		i.Attributes = make(map[string]string, 4)
	}
	i.Attributes[schemas.AttrSignalKind] = kind
	i.Attributes[schemas.AttrSignalDomain] = domain
	i.Attributes[schemas.AttrSignalCompany] = companyName(domain)
	i.Attributes[schemas.AttrSignalURL] = "https://news.example.net/" + strings.ReplaceAll(kind, "_", "-") + "/" + n
	g.scheduleSignal(it.at)
}

// companyName is a name for a generated domain: "northworks-12.example.com"
// is "Northworks 12".
func companyName(domain string) string {
	label, _, _ := strings.Cut(domain, ".")
	return capitalise(strings.ReplaceAll(label, "-", " "))
}

// scheduleSignal queues the next signal after at: exponential gaps with a
// mean of a day over PerDay.
func (g *Generator) scheduleSignal(at int64) {
	mean := float64(day.Milliseconds()) / g.cfg.Signals.PerDay
	next := at + 1 + int64(-mean*math.Log(1-g.sig.rng.Float64()))
	if next >= g.sig.end {
		return
	}
	g.pushAt(item{at: next, kind: kindSignal})
}
