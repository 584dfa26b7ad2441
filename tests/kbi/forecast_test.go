package kbi

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sinks/clickhouse"
	"github.com/salespulse/salespulse/sources/gen"
)

// Forecast accuracy and accounts per rep (docs/kbis.md) on the
// generator's data, through kfake → pipeline → chDB, against a brute force
// computed from the generated events by the documented definitions.

// forecastStream generates a small org over three months and a bit: the
// month it starts in (revisions only: no snapshot), two whole months with
// snapshots, and a month cut short; by quarter, over Q1 and Q2 2027 (Q4
// 2026 started a month before the stream: no submissions at all).
func forecastStream(t *testing.T, period string) ([][]delivery, *schemas.Org) {
	cfg := gen.DefaultConfig()
	cfg.Teams, cfg.RepsPerTeam, cfg.InteractionsPerRepDay, cfg.Days = 3, 3, 12, 100
	cfg.Forecasts.Period = period
	if period == "quarter" {
		cfg.Days = 200 // Q1 and Q2 2027 with snapshots: a trend
	}
	cfg.AccountsTarget = 25
	g, err := gen.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	parts := make([][]delivery, partitions)
	for {
		var in schemas.Interaction
		key, ok := g.Next(&in)
		if !ok {
			break
		}
		p := partOf(string(key))
		parts[p] = append(parts[p], delivery{ev: in, part: p})
	}
	return parts, g.Org()
}

// bruteForecasts is kbi_forecast_accuracy by definition: per (team, rep
// or "" for the team's own, period, category, currency) the last
// submission strictly before the period's first local instant, closed won
// of the same team (and rep) whose local day lies in the period, exact
// sums (in units of 1e-4), accuracy 1 − |f − w| / w and bias (f − w) / w,
// NULL without a snapshot or closed won, and the previous row's accuracy.
func bruteForecasts(parts [][]delivery, org *schemas.Index) []string {
	loc := func(team string) *time.Location {
		if t := org.Team(team); t != nil && t.TimeZone != "" {
			l, _ := time.LoadLocation(t.TimeZone)
			return l
		}
		return time.UTC
	}
	// The first instant whose local date is the period's first day, by a
	// minute-by-minute walk (zone offsets of the test's zones are whole
	// minutes): independent of schemas.Period.Start.
	starts := map[string]time.Time{}
	startOf := func(team string, first time.Time) time.Time {
		k := team + first.String()
		if s, ok := starts[k]; ok {
			return s
		}
		l := loc(team)
		t := first.Add(-15 * time.Hour)
		for {
			y, m, d := t.In(l).Date()
			if !time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Before(first) {
				break
			}
			t = t.Add(time.Minute)
		}
		starts[k] = t
		return t
	}
	periodFirst := func(kind string, day time.Time) time.Time {
		m := day.Month()
		if kind == "quarter" {
			m = (m-1)/3*3 + 1
		}
		return time.Date(day.Year(), m, 1, 0, 0, 0, 0, time.UTC)
	}
	type key struct {
		team, rep, kind string
		first           time.Time
		cat, cur        string
	}
	type sub struct {
		at     time.Time
		id     string
		amount float64
	}
	subs := map[key][]sub{}
	type wkey struct {
		team, rep, kind string
		first           time.Time
		cur             string
	}
	won := map[wkey]int64{}
	wonN := map[wkey]int{}
	for _, ds := range parts {
		for _, d := range ds {
			e := d.ev
			team := e.TeamID
			if team == "" {
				team = org.TeamOf(e.RepID)
			}
			switch e.Type {
			case schemas.TypeForecastSubmitted:
				kind := "month"
				var first time.Time
				if len(e.Period) == 7 && e.Period[5] == 'Q' {
					kind = "quarter"
					y, _ := strconv.Atoi(e.Period[:4])
					q := int(e.Period[6] - '0')
					first = time.Date(y, time.Month(3*q-2), 1, 0, 0, 0, 0, time.UTC)
				} else {
					y, _ := strconv.Atoi(e.Period[:4])
					m, _ := strconv.Atoi(e.Period[5:])
					first = time.Date(y, time.Month(m), 1, 0, 0, 0, 0, time.UTC)
				}
				k := key{team, e.RepID, kind, first, e.Stage, e.Currency}
				subs[k] = append(subs[k], sub{e.OccurredAt, e.EventID, e.Amount})
			case schemas.TypeDealWon:
				y, m, dd := e.OccurredAt.In(loc(team)).Date()
				day := time.Date(y, m, dd, 0, 0, 0, 0, time.UTC)
				for _, kind := range []string{"month", "quarter"} {
					for _, rep := range slices.Compact([]string{e.RepID, ""}) {
						k := wkey{team, rep, kind, periodFirst(kind, day), e.Currency}
						won[k] += int64(math.Round(e.Amount * 1e4))
						wonN[k]++
					}
				}
			}
		}
	}
	type row struct {
		k    key
		text string
		acc  *float64
	}
	var rows []row
	for k, ss := range subs {
		start := startOf(k.team, k.first)
		var snap *sub
		n := 0
		for i := range ss {
			s := &ss[i]
			if !s.at.Before(start) {
				continue
			}
			n++
			if snap == nil || s.at.After(snap.at) || s.at.Equal(snap.at) && s.id > snap.id {
				snap = s
			}
		}
		wk := wkey{k.team, k.rep, k.kind, k.first, k.cur}
		w := float64(won[wk]) / 1e4
		var acc, bias *float64
		f := "null"
		if snap != nil {
			f = fexact(snap.amount)
			if w != 0 {
				a, b := 1-math.Abs(snap.amount-w)/w, (snap.amount-w)/w
				acc, bias = &a, &b
			}
		}
		rows = append(rows, row{k: k, acc: acc, text: fmt.Sprintf("%s|%s|%s|%s|%s|%s | %d %d %s %s %d %s %s",
			k.team, k.rep, k.kind, k.first.Format(time.DateOnly), k.cat, k.cur, len(ss), n, f, fexact(w), wonN[wk], fexactPtr(acc), fexactPtr(bias))})
	}
	// The previous period's accuracy of the same (team, rep, kind,
	// category, currency), in period order.
	slices.SortFunc(rows, func(a, b row) int {
		ka := a.k.team + "|" + a.k.rep + "|" + a.k.kind + "|" + a.k.cat + "|" + a.k.cur
		kb := b.k.team + "|" + b.k.rep + "|" + b.k.kind + "|" + b.k.cat + "|" + b.k.cur
		if ka != kb {
			if ka < kb {
				return -1
			}
			return 1
		}
		return a.k.first.Compare(b.k.first)
	})
	var out []string
	for i, r := range rows {
		var prev *float64
		if i > 0 {
			p := rows[i-1].k
			if p.team == r.k.team && p.rep == r.k.rep && p.kind == r.k.kind && p.cat == r.k.cat && p.cur == r.k.cur {
				prev = rows[i-1].acc
			}
		}
		// accuracy_avg_4: the non-NULL accuracies of this and the three
		// previous rows of the key, to 1e-9 (summation order).
		sum, n := 0.0, 0
		for j := i; j >= 0 && i-j < 4; j-- {
			p := rows[j].k
			if p.team != r.k.team || p.rep != r.k.rep || p.kind != r.k.kind || p.cat != r.k.cat || p.cur != r.k.cur {
				break
			}
			if rows[j].acc != nil {
				sum, n = sum+*rows[j].acc, n+1
			}
		}
		avg4 := "null"
		if n > 0 {
			avg4 = fmt.Sprintf("%.9f", sum/float64(n))
		}
		out = append(out, r.text+" "+fexactPtr(prev)+" "+avg4)
	}
	slices.Sort(out)
	return out
}

// bruteAccounts is kbi_accounts_per_rep_monthly: distinct accounts a rep
// touched per local calendar month (every event with rep and account but
// CRM contact updates, acknowledgements and forecasts), the team's target
// and accounts / target. With from and to, the parameterised view over
// local days [from, to).
func bruteAccounts(parts [][]delivery, org *schemas.Index, from, to string) []string {
	type key struct{ month, team, rep string }
	accts, days := map[key]map[string]bool{}, map[key]map[string]bool{}
	for _, ds := range parts {
		for _, d := range ds {
			e := d.ev
			if e.RepID == "" || e.AccountID == "" || e.Type == schemas.TypeLeadUpdated || e.Type == schemas.TypeAlertAcknowledged ||
				e.Type == schemas.TypeForecastSubmitted {
				continue
			}
			team := e.TeamID
			if team == "" {
				team = org.TeamOf(e.RepID)
			}
			l, _ := time.LoadLocation(org.Team(team).TimeZone)
			day := e.OccurredAt.In(l).Format(time.DateOnly)
			k := key{day[:7] + "-01", team, e.RepID}
			if from != "" {
				if day < from || day >= to {
					continue
				}
				k.month = ""
			}
			if accts[k] == nil {
				accts[k], days[k] = map[string]bool{}, map[string]bool{}
			}
			accts[k][e.AccountID] = true
			days[k][day] = true
		}
	}
	var out []string
	for k, a := range accts {
		target, att := "null", "null"
		if n := org.Team(k.team).AccountsTarget; n > 0 {
			target, att = strconv.Itoa(int(n)), fexact(float64(len(a))/float64(n))
		}
		out = append(out, fmt.Sprintf("%s|%s|%s | %d %d %s %s", k.month, k.team, k.rep, len(a), len(days[k]), target, att))
	}
	slices.Sort(out)
	return out
}

// fexact renders a float so that equal strings mean equal bits.
func fexact(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func fexactPtr(f *float64) string {
	if f == nil {
		return "null"
	}
	return fexact(*f)
}

func (e *env) queryForecasts() []string { return e.queryForecastsFrom(e.db + ".kbi_forecast_accuracy") }

// queryForecastsFrom reads kbi_forecast_accuracy's columns from view, e.g.
// the parameterised kbi_forecast_accuracy_teams (migration 013).
func (e *env) queryForecastsFrom(view string) []string {
	c := e.conn()
	rs, err := c.Query(context.Background(), "SELECT team_id, rep_id, period_kind, toString(period_start), category, currency, "+
		"submissions, snapshot_submissions, forecast, closed_won, won_deals, accuracy, bias, prev_accuracy, accuracy_avg_4 FROM "+view)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		var team, rep, kind, first, cat, cur string
		var subs, snaps, deals uint64
		var f, acc, bias, prev, avg4 *float64
		var w float64
		if err := rs.Scan(&team, &rep, &kind, &first, &cat, &cur, &subs, &snaps, &f, &w, &deals, &acc, &bias, &prev, &avg4); err != nil {
			e.t.Fatal(err)
		}
		a4 := "null"
		if avg4 != nil && !math.IsNaN(*avg4) {
			a4 = fmt.Sprintf("%.9f", *avg4)
		}
		out = append(out, fmt.Sprintf("%s|%s|%s|%s|%s|%s | %d %d %s %s %d %s %s %s %s",
			team, rep, kind, first, cat, cur, subs, snaps, fexactPtr(f), fexact(w), deals, fexactPtr(acc), fexactPtr(bias), fexactPtr(prev), a4))
	}
	if err := rs.Err(); err != nil {
		e.t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func (e *env) queryAccounts(from, to string) []string {
	c := e.conn()
	q := "SELECT toString(month), team_id, rep_id, accounts, active_days, accounts_target, attainment FROM " + e.db + ".kbi_accounts_per_rep_monthly"
	if from != "" {
		q = "SELECT '', team_id, rep_id, accounts, active_days, accounts_target, attainment FROM " + e.db +
			".kbi_accounts_per_rep(from = '" + from + "', to = '" + to + "')"
	}
	rs, err := c.Query(context.Background(), q)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rs.Close()
	var out []string
	scan := func(rs driver.Rows) string {
		var month, team, rep string
		var n, days uint64
		var target *uint32
		var att *float64
		if err := rs.Scan(&month, &team, &rep, &n, &days, &target, &att); err != nil {
			e.t.Fatal(err)
		}
		ts := "null"
		if target != nil {
			ts = strconv.Itoa(int(*target))
		}
		return fmt.Sprintf("%s|%s|%s | %d %d %s %s", month, team, rep, n, days, ts, fexactPtr(att))
	}
	for rs.Next() {
		out = append(out, scan(rs))
	}
	if err := rs.Err(); err != nil {
		e.t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func compareLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(want) == 0 {
		t.Fatalf("%s: brute force produced no rows: the generator is broken", what)
	}
	if slices.Equal(got, want) {
		t.Logf("%s: %d rows equal", what, len(want))
		return
	}
	bad := 0
	for _, w := range want {
		if !slices.Contains(got, w) {
			if bad < 10 {
				t.Errorf("%s: missing or different: %s", what, w)
			}
			bad++
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			if bad < 20 {
				t.Errorf("%s: unexpected: %s", what, g)
			}
			bad++
		}
	}
	t.Errorf("%s: %d rows in ClickHouse, %d by brute force, %d lines differ", what, len(got), len(want), bad)
}

// TestForecastAccuracyAndAccountsMatchBruteForce: the generator's
// forecasts (sandbagging and over-forecasting teams, snapshots, late
// revisions, periods with no snapshot) and touches, through the whole
// pipeline, give exactly the brute force's accuracy, bias, trend and
// accounts per rep with attainment.
func TestForecastAccuracyAndAccountsMatchBruteForce(t *testing.T) {
	for _, period := range []string{"month", "quarter"} {
		t.Run(period, func(t *testing.T) {
			parts, org := forecastStream(t, period)
			org.Teams[len(org.Teams)-1].AccountsTarget = 0 // no target: attainment NULL
			e := newEnv(t)
			e.org, e.index = org, schemas.NewIndex(org)
			e.produce(parts)
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			// What `salespulse run` writes at start: the org's targets.
			sink, err := clickhouse.NewSink(ctx, clickhouse.Config{Addresses: []string{e.addr}, Protocol: "http", Database: e.db}, nil, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			err = sink.WriteTeamTargets(ctx, org.Teams, time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC))
			sink.Close()
			if err != nil {
				t.Fatal(err)
			}
			if err := e.instance(ctx, "gf", -1, 1); err != nil || !e.done("gf") {
				t.Fatalf("run: %v, done %v", err, e.done("gf"))
			}
			want := bruteForecasts(parts, e.index)
			compareLines(t, "kbi_forecast_accuracy", e.queryForecasts(), want)
			// The dashboard's view with the team filter inside: all teams,
			// and one team's rows alone.
			compareLines(t, "kbi_forecast_accuracy_teams(['__all'])", e.queryForecastsFrom(e.db+".kbi_forecast_accuracy_teams(teams = ['__all'])"), want)
			team := want[0][:strings.Index(want[0], "|")]
			var wantTeam []string
			for _, w := range want {
				if strings.HasPrefix(w, team+"|") {
					wantTeam = append(wantTeam, w)
				}
			}
			if len(wantTeam) == len(want) {
				t.Fatalf("one team %s holds every forecast row: the one-team check proves nothing", team)
			}
			compareLines(t, "kbi_forecast_accuracy_teams(['"+team+"'])", e.queryForecastsFrom(e.db+".kbi_forecast_accuracy_teams(teams = ['"+team+"'])"), wantTeam)
			// The edge cases are in the data: periods without a snapshot
			// (the first: revisions only) and with one.
			var noSnap, scored int
			for _, w := range want {
				f := strings.Fields(w[strings.Index(w, " | ")+3:])
				switch {
				case f[2] == "null":
					noSnap++
				case f[5] != "null":
					scored++
				}
			}
			t.Logf("%d rows without a snapshot, %d with an accuracy", noSnap, scored)
			if period == "month" && noSnap == 0 || scored == 0 {
				t.Errorf("the stream lacks an edge case: %d without snapshot, %d scored", noSnap, scored)
			}
			if period == "month" {
				compareLines(t, "kbi_accounts_per_rep_monthly", e.queryAccounts("", ""), bruteAccounts(parts, e.index, "", ""))
				compareLines(t, "kbi_accounts_per_rep", e.queryAccounts("2026-11-16", "2027-01-05"), bruteAccounts(parts, e.index, "2026-11-16", "2027-01-05"))
			}
		})
	}
}
