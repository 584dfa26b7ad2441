package kbi

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/salespulse/salespulse/schemas"
)

// The model: a random but valid event stream, and the brute-force KBIs
// computed from it by definition (docs/kbis.md), independent of the stage's
// incremental algorithm.

const (
	partitions = 3
	bound      = 5 * time.Minute
	lateness   = 30 * time.Minute
	leadExp    = 8 * time.Hour
	apprExp    = 12 * time.Hour
)

var t0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

func testOrg() *schemas.Org {
	o := &schemas.Org{Teams: []schemas.Team{
		{ID: "t-utc", ManagerID: "m1", TimeZone: "UTC"},
		{ID: "t-ny", ManagerID: "m2", TimeZone: "America/New_York"},
		{ID: "t-ber", ManagerID: "m3", TimeZone: "Europe/Berlin"},
	}}
	for k := range 6 {
		o.Reps = append(o.Reps, schemas.Rep{ID: fmt.Sprintf("rep-%d", k), TeamID: o.Teams[k%3].ID})
	}
	return o
}

// delivery is one record as produced: the event and the partition.
type delivery struct {
	ev     schemas.Interaction
	part   int32
	arrive int64 // sort key of the produce order within the partition
}

func partOf(key string) int32 {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int32(h.Sum32() % partitions)
}

// genStream makes the deliveries of one random stream, in produce order per
// partition: events shuffled within the lateness bound, some duplicated, a
// few delayed far beyond it.
func genStream(seed uint64, scale int) [][]delivery {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	org := testOrg()
	var evs []schemas.Interaction
	n := 0
	id := func() string { n++; return fmt.Sprintf("ev-%06d", n) }
	span := 3 * 24 * time.Hour
	at := func() time.Time { return t0.Add(time.Duration(rng.Int64N(int64(span)))).Truncate(time.Millisecond) }
	rep := func() schemas.Rep { return org.Reps[rng.IntN(len(org.Reps))] }
	team := func(r schemas.Rep) string {
		if rng.IntN(4) == 0 {
			return "" // resolved through the org file
		}
		return r.TeamID
	}
	triggers := []schemas.Type{schemas.TypeLeadCreated, schemas.TypeMessageInbound, schemas.TypeCallInbound, schemas.TypeSocialInbound}
	outs := []schemas.Type{schemas.TypeMessageOutbound, schemas.TypeCallOutbound, schemas.TypeMeetingHeld, schemas.TypeSocialOutbound}
	delay := func() time.Duration {
		return time.Duration(math.Exp(rng.NormFloat64()*1.5+math.Log(float64(40*time.Minute)))) / time.Millisecond * time.Millisecond
	}
	for l := range 30 * scale {
		lead := fmt.Sprintf("lead-%04d", l)
		owner := rep()
		acct := fmt.Sprintf("acct-%03d", rng.IntN(40))
		cycles := 1 + rng.IntN(3)
		t := at()
		for range cycles {
			trig := schemas.Interaction{EventID: id(), OccurredAt: t, Source: "canonical", Type: triggers[rng.IntN(4)],
				LeadID: lead, AccountID: acct, RepID: owner.ID, TeamID: team(owner)}
			if rng.IntN(5) == 0 {
				trig.RepID, trig.TeamID = "", owner.TeamID // unassigned inbound
			}
			evs = append(evs, trig)
			if rng.IntN(3) == 0 { // a second inbound touch while waiting
				x := trig
				x.EventID, x.OccurredAt, x.Type = id(), t.Add(delay()/3), schemas.TypeMessageInbound
				evs = append(evs, x)
			}
			for range rng.IntN(4) { // responses, some before the trigger, some after expiry
				r := rep()
				d := delay()
				if rng.IntN(8) == 0 {
					d = -d
				}
				evs = append(evs, schemas.Interaction{EventID: id(), OccurredAt: t.Add(d), Source: "canonical",
					Type: outs[rng.IntN(4)], LeadID: lead, AccountID: acct, RepID: r.ID, TeamID: team(r),
					DurationS: float64(rng.IntN(900)), Has: schemas.HasDuration})
			}
			if rng.IntN(10) == 0 { // same millisecond as the trigger
				r := rep()
				evs = append(evs, schemas.Interaction{EventID: id(), OccurredAt: t, Source: "canonical",
					Type: schemas.TypeCallOutbound, LeadID: lead, RepID: r.ID, TeamID: team(r)})
			}
			t = t.Add(time.Duration(rng.Int64N(int64(20 * time.Hour))))
		}
	}
	// The stream's end: leads and approvals answered within the lateness
	// bound of the latest event, provisional when the stream stops.
	end := t0
	for _, e := range evs {
		if e.OccurredAt.After(end) {
			end = e.OccurredAt
		}
	}
	tail := func() time.Time {
		return end.Add(-15*time.Minute - time.Duration(rng.Int64N(int64(15*time.Minute)))).Truncate(time.Millisecond)
	}
	for l := range 2 * scale {
		lead := fmt.Sprintf("lead-end-%03d", l)
		owner := rep()
		t := tail()
		evs = append(evs, schemas.Interaction{EventID: id(), OccurredAt: t, Source: "canonical", Type: schemas.TypeLeadCreated,
			LeadID: lead, RepID: owner.ID, TeamID: team(owner)})
		r := rep()
		evs = append(evs, schemas.Interaction{EventID: id(), OccurredAt: t.Add(time.Duration(rng.Int64N(int64(15 * time.Minute)))),
			Source: "canonical", Type: outs[rng.IntN(4)], LeadID: lead, RepID: r.ID, TeamID: team(r)})
	}
	for a := range scale {
		ap := fmt.Sprintf("appr-end-%03d", a)
		r := rep()
		t := tail()
		evs = append(evs, schemas.Interaction{EventID: id(), OccurredAt: t, Source: "canonical", Type: schemas.TypeApprovalRequested,
			ApprovalID: ap, RepID: r.ID, TeamID: team(r)},
			schemas.Interaction{EventID: id(), OccurredAt: t.Add(time.Duration(rng.Int64N(int64(15 * time.Minute)))), Source: "canonical",
				Type: schemas.TypeApprovalDecided, ApprovalID: ap, ApproverID: org.Teams[rng.IntN(3)].ManagerID, RepID: r.ID,
				TeamID: team(r), Approved: rng.IntN(3) != 0, Has: schemas.HasApproved})
	}
	for a := range 10 * scale {
		ap := fmt.Sprintf("appr-%04d", a)
		r := rep()
		t := at()
		evs = append(evs, schemas.Interaction{EventID: id(), OccurredAt: t, Source: "canonical", Type: schemas.TypeApprovalRequested,
			ApprovalID: ap, RepID: r.ID, TeamID: team(r), Amount: 1000, Has: schemas.HasAmount})
		if rng.IntN(6) != 0 {
			d := delay() * 3
			if rng.IntN(10) == 0 {
				d = -d / 10
			}
			evs = append(evs, schemas.Interaction{EventID: id(), OccurredAt: t.Add(d), Source: "canonical", Type: schemas.TypeApprovalDecided,
				ApprovalID: ap, ApproverID: org.Teams[rng.IntN(3)].ManagerID, RepID: r.ID, TeamID: team(r),
				Approved: rng.IntN(3) != 0, Has: schemas.HasApproved})
		}
	}
	for range 15 * scale {
		r := rep()
		e := schemas.Interaction{EventID: id(), OccurredAt: at(), Source: "canonical", RepID: r.ID, TeamID: team(r),
			AccountID: fmt.Sprintf("acct-%03d", rng.IntN(40)), Currency: []string{"EUR", "USD"}[rng.IntN(2)]}
		switch rng.IntN(5) {
		case 0, 1:
			e.Type = schemas.TypeQuoteCreated
			e.ListPrice = float64(1000 * (1 + rng.IntN(20)))
			e.DiscountPct = float64(rng.IntN(60)) / 2
			e.Amount = math.Round(e.ListPrice*(100-e.DiscountPct)) / 100
			e.Has = schemas.HasListPrice | schemas.HasDiscount | schemas.HasAmount
			if rng.IntN(5) == 0 {
				e.Has = schemas.HasAmount
			}
		case 2:
			e.Type, e.Amount, e.Has = schemas.TypeDealWon, float64(rng.IntN(50000)), schemas.HasAmount
		case 3:
			e.Type, e.Amount, e.Has = schemas.TypeDealLost, float64(rng.IntN(50000)), schemas.HasAmount
		case 4:
			e.Type, e.DurationS, e.Has = schemas.TypeCallOutbound, float64(rng.IntN(1800)), schemas.HasDuration
		}
		evs = append(evs, e)
	}
	for k := range evs {
		evs[k].Normalize()
		evs[k].OccurredAt = evs[k].OccurredAt.Truncate(time.Millisecond) // DateTime64(3)
	}

	// Arrival: event time plus jitter within bound+lateness; 1.5% far
	// beyond it (late); 2% duplicated.
	out := make([][]delivery, partitions)
	j := int64(bound + lateness)
	for _, e := range evs {
		key := e.LeadID + e.ApprovalID
		if key == "" {
			key = e.EventID
		}
		p := partOf(key)
		arr := e.OccurredAt.UnixMilli() + rng.Int64N(j/int64(time.Millisecond))
		if rng.IntN(66) == 0 {
			arr += int64((lateness + bound + time.Duration(rng.Int64N(int64(10*time.Hour)))) / time.Millisecond)
		}
		out[p] = append(out[p], delivery{ev: e, part: p, arrive: arr})
		if rng.IntN(50) == 0 {
			out[p] = append(out[p], delivery{ev: e, part: p, arrive: arr + rng.Int64N(j/int64(time.Millisecond))/4})
		}
	}
	for p := range out {
		sort.SliceStable(out[p], func(a, b int) bool { return out[p][a].arrive < out[p][b].arrive })
	}
	return out
}

// kbis is everything compared, as sorted text rows "key | values".
type kbis map[string][]string

// brute computes every KBI view's content by definition: each
// partition final up to its own newest event time minus the lateness.
func brute(parts [][]delivery, org *schemas.Index) kbis { return bruteAt(parts, org, nil) }

// bruteAt is brute with every partition final up to *fixed (unix ms)
// when fixed is not nil: the clock of a stream that wall-clock ticks
// moved past its last event.
func bruteAt(parts [][]delivery, org *schemas.Index, fixed *int64) kbis {
	zone := func(team string) *time.Location {
		if t := org.Team(team); t != nil && t.TimeZone != "" {
			l, _ := time.LoadLocation(t.TimeZone)
			return l
		}
		return time.UTC
	}
	day := func(t time.Time, team string) string { return t.In(zone(team)).Format(time.DateOnly) }
	teamOf := func(e *schemas.Interaction) string {
		if e.TeamID != "" {
			return e.TeamID
		}
		return org.TeamOf(e.RepID)
	}
	lateMS := (bound + lateness).Milliseconds()

	type respAgg struct {
		leads, answered, unanswered int
		secs                        []float64
		max                         float64
	}
	type apprAgg struct {
		requests, approved, rejected, expired, within int
		secs                                          []float64
		max                                           float64
	}
	type actAgg struct {
		n, in, out, email, calls, meetings, social, chat int
		callS                                            float64
		accts                                            map[string]bool
	}
	type discAgg struct {
		quotes, withDisc int
		discs            []float64
		amt, list        float64
	}
	type dealAgg struct {
		won, lost       int
		wonAmt, lostAmt float64
	}
	var prov []string
	resp := map[string]*respAgg{}
	appr := map[string]*apprAgg{}
	act := map[string]*actAgg{}
	disc := map[string]*discAgg{}
	deals := map[string]*dealAgg{}
	get := func(m any, k string) {}
	_ = get

	for _, ds := range parts {
		maxT := int64(math.MinInt64)
		var acc []schemas.Interaction
		for _, d := range ds {
			at := d.ev.OccurredAt.UnixMilli()
			if maxT != math.MinInt64 && at < maxT-lateMS {
				continue // late
			}
			maxT = max(maxT, at)
			acc = append(acc, d.ev)
		}
		horizon := maxT - lateMS
		if fixed != nil {
			horizon = *fixed
		}
		// Activity, accounts, deals: every accepted delivery.
		for k := range acc {
			e := &acc[k]
			team := teamOf(e)
			key := day(e.OccurredAt, team) + "|" + team + "|" + e.RepID
			a := act[key]
			if a == nil {
				a = &actAgg{accts: map[string]bool{}}
				act[key] = a
			}
			a.n++
			switch e.Direction() {
			case "inbound":
				a.in++
			case "outbound":
				a.out++
			}
			switch e.Channel {
			case schemas.ChannelEmail:
				a.email++
			case schemas.ChannelSocial:
				a.social++
			case schemas.ChannelChat:
				a.chat++
			}
			if e.Type == schemas.TypeCallInbound || e.Type == schemas.TypeCallOutbound {
				a.calls++
				if e.Has&schemas.HasDuration != 0 {
					a.callS += e.DurationS
				}
			}
			if e.Type == schemas.TypeMeetingHeld {
				a.meetings++
			}
			if e.RepID != "" && e.AccountID != "" {
				a.accts[e.AccountID] = true
			}
			dk := day(e.OccurredAt, team) + "|" + team + "|" + e.RepID + "|" + e.Currency
			switch e.Type {
			case schemas.TypeQuoteCreated:
				q := disc[dk]
				if q == nil {
					q = &discAgg{}
					disc[dk] = q
				}
				q.quotes++
				if e.Has&schemas.HasDiscount != 0 {
					q.withDisc++
					q.discs = append(q.discs, e.DiscountPct)
				}
				if e.Has&schemas.HasAmount != 0 && e.Has&schemas.HasListPrice != 0 {
					q.amt += e.Amount
					q.list += e.ListPrice
				}
			case schemas.TypeDealWon, schemas.TypeDealLost:
				g := deals[dk]
				if g == nil {
					g = &dealAgg{}
					deals[dk] = g
				}
				if e.Type == schemas.TypeDealWon {
					g.won++
					g.wonAmt += e.Amount
				} else {
					g.lost++
					g.lostAmt += e.Amount
				}
			}
		}
		// Pairing, per key, over the accepted events in definition order.
		type pev struct {
			e    *schemas.Interaction
			open bool
		}
		groups := map[string][]pev{}
		for k := range acc {
			e := &acc[k]
			switch {
			case e.LeadID != "" && (e.Type == schemas.TypeLeadCreated || e.Type.Inbound()):
				groups["L"+e.LeadID] = append(groups["L"+e.LeadID], pev{e, true})
			case e.LeadID != "" && e.Type.Outbound():
				groups["L"+e.LeadID] = append(groups["L"+e.LeadID], pev{e, false})
			case e.ApprovalID != "" && e.Type == schemas.TypeApprovalRequested:
				groups["A"+e.ApprovalID] = append(groups["A"+e.ApprovalID], pev{e, true})
			case e.ApprovalID != "" && e.Type == schemas.TypeApprovalDecided:
				groups["A"+e.ApprovalID] = append(groups["A"+e.ApprovalID], pev{e, false})
			}
		}
		for key, g := range groups {
			slices.SortStableFunc(g, func(a, b pev) int {
				if c := a.e.OccurredAt.Compare(b.e.OccurredAt); c != 0 {
					return c
				}
				if a.open != b.open {
					if a.open {
						return -1
					}
					return 1
				}
				return strings.Compare(a.e.EventID, b.e.EventID)
			})
			lead := key[0] == 'L'
			exp := apprExp.Milliseconds()
			if lead {
				exp = leadExp.Milliseconds()
			}
			var open *schemas.Interaction
			emit := func(o, c *schemas.Interaction) {
				team := teamOf(o)
				if lead {
					rk := day(o.OccurredAt, team) + "|" + team + "|" + o.RepID + "|"
					if c != nil {
						rk += c.RepID
					}
					rk += "|" + o.Channel.String()
					r := resp[rk]
					if r == nil {
						r = &respAgg{}
						resp[rk] = r
					}
					r.leads++
					if c == nil {
						r.unanswered++
						return
					}
					r.answered++
					s := float64(c.OccurredAt.Sub(o.OccurredAt).Milliseconds()) / 1000
					r.secs = append(r.secs, s)
					r.max = max(r.max, s)
					return
				}
				ak := day(o.OccurredAt, team) + "|" + team + "|" + o.RepID + "|"
				if c != nil {
					ak += c.ApproverID
				}
				a := appr[ak]
				if a == nil {
					a = &apprAgg{}
					appr[ak] = a
				}
				a.requests++
				switch {
				case c == nil:
					a.expired++
					return
				case c.Approved:
					a.approved++
				default:
					a.rejected++
				}
				s := float64(c.OccurredAt.Sub(o.OccurredAt).Milliseconds()) / 1000
				a.secs = append(a.secs, s)
				a.max = max(a.max, s)
				if s < 86400 {
					a.within++
				}
			}
			// Events behind the horizon are final; the walk goes on over
			// the others, whose pairs are provisional (docs/kbis.md
			// "Provisional facts").
			final := true
			finish := func() {
				final = false
				if open != nil && open.OccurredAt.UnixMilli()+exp <= horizon {
					emit(open, nil)
					open = nil
				}
			}
			for _, x := range g {
				at := x.e.OccurredAt.UnixMilli()
				if final && at >= horizon {
					finish()
				}
				if open != nil && open.OccurredAt.UnixMilli()+exp <= at {
					if final {
						emit(open, nil)
					}
					open = nil
				}
				switch {
				case x.open && open == nil:
					open = x.e
				case !x.open && open != nil && final:
					emit(open, x.e)
					open = nil
				case !x.open && open != nil:
					prov = append(prov, provisional(key, open, x.e))
					open = nil
				}
			}
			if final {
				finish()
			}
		}
	}

	out := kbis{}
	out["provisional"] = prov
	for k, r := range resp {
		out["response"] = append(out["response"], fmt.Sprintf("%s | %d %d %d %s %s %s", k, r.leads, r.answered, r.unanswered,
			fnum(avg(r.secs)), fnum(r.max), fq(r.secs)))
	}
	for k, a := range appr {
		dec := a.approved + a.rejected
		out["approvals"] = append(out["approvals"], fmt.Sprintf("%s | %d %d %d %d %d %d %s %s %s", k, a.requests, dec, a.approved,
			a.rejected, a.expired, a.within, fnum(avg(a.secs)), fnum(a.max), fq(a.secs)))
	}
	for k, a := range act {
		out["activity"] = append(out["activity"], fmt.Sprintf("%s | %d %d %d %d %d %d %d %d %s %d", k, a.n, a.in, a.out, a.email,
			a.calls, a.meetings, a.social, a.chat, fnum(a.callS/60), len(a.accts)))
	}
	for k, q := range disc {
		out["discounts"] = append(out["discounts"], fmt.Sprintf("%s | %d %d %s %s %s", k, q.quotes, q.withDisc, fnum(avg(q.discs)),
			fq(q.discs), fnum(q.amt)))
	}
	for k, g := range deals {
		out["deals"] = append(out["deals"], fmt.Sprintf("%s | %d %d %s %s", k, g.won, g.lost, fnum(g.wonAmt), fnum(g.lostAmt)))
	}
	for k := range out {
		slices.Sort(out[k])
	}
	return out
}

// provisional renders a pair that is not final yet as the test reads
// the provisional tables: "L|lead|trigger | response seconds" or
// "A|approval|request | decision seconds outcome".
func provisional(key string, o, c *schemas.Interaction) string {
	s := fnum(float64(c.OccurredAt.Sub(o.OccurredAt).Milliseconds()) / 1000)
	if key[0] == 'L' {
		return fmt.Sprintf("L|%s|%s | %s %s", o.LeadID, o.EventID, c.EventID, s)
	}
	outcome := "rejected"
	if c.Approved {
		outcome = "approved"
	}
	return fmt.Sprintf("A|%s|%s | %s %s %s", o.ApprovalID, o.EventID, c.EventID, s, outcome)
}

func avg(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// fq renders ClickHouse's quantilesExact(0.5, 0.9, 0.99): the element at
// index floor(level * n) of the sorted values (clamped), 0 for none.
func fq(xs []float64) string {
	if len(xs) == 0 {
		return "[0.000,0.000,0.000]"
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	var parts []string
	for _, l := range []float64{0.5, 0.9, 0.99} {
		i := min(int(l*float64(len(s))), len(s)-1)
		parts = append(parts, fnum(s[i]))
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// fnum rounds to 3 decimals so float sums compare across summation order.
func fnum(f float64) string {
	if math.IsNaN(f) {
		return "null"
	}
	return fmt.Sprintf("%.3f", f)
}
