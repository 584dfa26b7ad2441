package main

// The dashboards scenario (make bench-dashboards, issue 17): a year of a
// large customer — 1,000 reps in 100 teams, 147 interactions per rep per
// working day, 250 working days, 36.75M interactions — is loaded BY SQL
// into a fresh stack (INSERT ... SELECT from numbers() into interactions, so
// its views fill, then the window stage's tables and facts from the same
// arithmetic, so theirs fill), and every ClickHouse panel of the Sales KBIs
// dashboard is timed as Grafana sends it (macros expanded by
// internal/grafana, as tests/ops does) at 30 and 365 days, for all teams
// and for one team. read_rows comes from the embedded server's
// X-ClickHouse-Summary. --dash-scale scales the reps (and teams).

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/salespulse/salespulse/internal/grafana"
)

// The loaded year: 250 working days (50 weeks of Monday to Friday) from
// dashStart; ranges end at dashEnd.
var (
	dashStart = time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC) // a Monday
	dashEnd   = dashStart.AddDate(0, 0, 50*7-2)              // the Saturday after the last Friday
)

const (
	dashDays      = 250
	dashPerRepDay = 147
	dashTeamSize  = 10
	dashRepeats   = 3 // each query; the median counts
)

// dashTiming is one panel at one range and team filter.
type dashTiming struct {
	Panel    string  `json:"panel"`
	Days     int     `json:"days"`
	Team     string  `json:"team"` // "all" or the team filtered on
	Seconds  float64 `json:"seconds"`
	ReadRows int64   `json:"read_rows"`
	Rows     int     `json:"result_rows"`
}

// dashReport is the scenario's output (benchmarks/out/dashboards.json).
type dashReport struct {
	Reps, Teams       int
	Interactions      int64
	LoadSeconds       float64
	TableRows         map[string]int64
	Timings           []dashTiming
	FullLoad          map[int]float64 // days → seconds, all panels one after another, all teams
	FullLoadParallel  map[int]float64 // days → seconds, 6 at a time as Grafana's browser does
	FullLoadBefore    map[int]float64 // the same as FullLoad for --dash-before's panels
	AccountsReps      int             // reps compared, uniq vs uniqExact over 365 days
	AccountsDiffer    int             // reps whose counts differ
	AccountsMaxRelErr float64
	// Reps whose year of accounts differs between rep_accounts_monthly's
	// states and rep_activity_daily's (migration 013: must be 0).
	AccountsMonthlyDiffer int
	// Migration 014's team-first copies whose rows differ from their
	// sources' (count and a sum of row hashes; must be empty).
	CopiesDiffer []string
}

// dashCopies pairs each team-first copy of migration 014 with its source:
// two queries that return the same count and sum of row hashes when the
// copy holds the source's rows (as a multiset; the SLA rollup per its key,
// its responses sorted; alerts as FINAL reads them).
var dashCopies = []struct{ table, copy, source string }{
	{"lead_sla_owner_daily",
		`SELECT day, team_id, owner_rep_id, trigger_channel, sum(leads) AS n, arraySort(groupArrayArray(answered_s)) AS s FROM salespulse.lead_sla_owner_daily GROUP BY ALL`,
		`SELECT day, team_id, owner_rep_id, trigger_channel, count() AS n, arraySort(groupArrayIf(assumeNotNull(response_s), response_s IS NOT NULL)) AS s FROM salespulse.lead_response_facts GROUP BY ALL`},
	{"deal_facts_team", `SELECT * FROM salespulse.deal_facts_team`, `SELECT * EXCEPT (kafka_topic, kafka_partition, kafka_first_offset, kafka_last_offset) FROM salespulse.deal_facts`},
	{"alert_transitions_team", `SELECT * FROM salespulse.alert_transitions_team`, `SELECT * FROM salespulse.alert_transitions`},
	{"alerts_team",
		"SELECT id, rule, state, severity, rep_id, team_id, manager_id, summary, event_ids, toString(`values`), at, ends_at, version, ingested_at FROM salespulse.alerts_team FINAL",
		"SELECT id, rule, state, severity, rep_id, team_id, manager_id, summary, event_ids, toString(`values`), at, ends_at, version, ingested_at FROM salespulse.alerts FINAL"},
}

func dashboards(c config, run int) (result, error) {
	r := result{Scenario: "dashboards", Run: run}
	reps := max(int(math.Round(1000*c.dashScale)), 2*dashTeamSize)
	teams := reps / dashTeamSize
	reps = teams * dashTeamSize
	e, err := setup(c, fmt.Sprintf("dashboards-%d", run), "canonical", 0, 0, false, "")
	if e != nil {
		defer e.close()
	}
	if err != nil {
		return r, err
	}
	ch := &chClient{addr: e.ready.ClickHouse}
	rep := dashReport{Reps: reps, Teams: teams, TableRows: map[string]int64{}, FullLoad: map[int]float64{}, FullLoadParallel: map[int]float64{}, FullLoadBefore: map[int]float64{}}
	t0 := time.Now()
	if err := dashLoad(ch, reps); err != nil {
		return r, fmt.Errorf("load: %w", err)
	}
	rep.LoadSeconds = time.Since(t0).Seconds()
	for _, t := range []string{"interactions", "activity_per_minute", "activity_hourly", "activity_daily", "rep_channel_daily",
		"rep_accounts_daily", "rep_activity_daily", "lead_response_facts", "lead_response_daily", "lead_response_owner_daily",
		"rep_accounts_monthly", "approvals_daily", "approvals_team_daily", "approval_facts", "deal_facts", "alerts", "alert_transitions", "account_signals",
		"lead_sla_owner_daily", "deal_facts_team", "alert_transitions_team", "alerts_team"} {
		n, err := ch.scalar("SELECT count() FROM salespulse." + t)
		if err != nil {
			return r, err
		}
		rep.TableRows[t] = n
	}
	if rep.Interactions, err = ch.scalar("SELECT countIf(type != 'account.signal') FROM salespulse.interactions"); err != nil {
		return r, err
	}
	fmt.Fprintf(os.Stderr, "bench: dashboards: %d interactions for %d reps in %d teams loaded by SQL in %.1fs\n", rep.Interactions, reps, teams, rep.LoadSeconds)

	dir := filepath.Join(repoDir(), "deploy/grafana/dashboards")
	ds, err := grafana.Load(dir)
	if err != nil {
		return r, err
	}
	d, ok := ds["sales-kbis.json"]
	if !ok {
		return r, fmt.Errorf("no sales-kbis.json in %s", dir)
	}
	vars, err := d.Defaults()
	if err != nil {
		return r, err
	}
	type query struct{ name, sql string }
	var qs []query
	for _, v := range d.Templating.List {
		if v.Type == "query" && v.Datasource.UID == "salespulse-clickhouse" {
			qs = append(qs, query{"variable " + v.Name, fmt.Sprint(v.Query)})
		}
	}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			if tg.RawSQL != "" {
				qs = append(qs, query{p.Title, tg.RawSQL})
			}
		}
	}
	var before []query
	if c.dashBefore != "" {
		raw, err := os.ReadFile(c.dashBefore)
		if err != nil {
			return r, err
		}
		var bd grafana.Dashboard
		if err := json.Unmarshal(raw, &bd); err != nil {
			return r, fmt.Errorf("%s: %w", c.dashBefore, err)
		}
		for _, p := range bd.Panels {
			for _, tg := range p.Targets {
				if tg.RawSQL != "" {
					before = append(before, query{"before: " + p.Title, tg.RawSQL})
				}
			}
		}
	}
	oneTeam := fmt.Sprintf("team-%03d", teams/2)
	for _, days := range []int{30, 365} {
		from := dashEnd.AddDate(0, 0, -days)
		// Grafana's $__timeInterval on a ~1,000 px panel: range / 1000,
		// rounded up to an hour or a day as its interval picker does.
		interval := time.Hour
		if days > 60 {
			interval = 24 * time.Hour
		}
		expanded := map[string][]string{}
		for _, team := range []string{"all", oneTeam} {
			vs := map[string][]string{}
			for k, v := range vars {
				vs[k] = v
			}
			if team != "all" {
				vs["team"] = []string{team}
			}
			for _, q := range append(slices.Clip(qs), before...) {
				sql, err := grafana.Expand(q.sql, vs, from, dashEnd, interval)
				if err != nil {
					return r, fmt.Errorf("%s: %w", q.name, err)
				}
				if team == "all" {
					expanded[q.name] = []string{sql}
				}
				var secs []float64
				var res chResult
				for range dashRepeats {
					if res, err = ch.query(sql); err != nil {
						return r, fmt.Errorf("%s (%d days, team %s): %w\n%s", q.name, days, team, err, sql)
					}
					secs = append(secs, res.seconds)
				}
				sort.Float64s(secs)
				rep.Timings = append(rep.Timings, dashTiming{Panel: q.name, Days: days, Team: team, Seconds: secs[len(secs)/2], ReadRows: res.readRows, Rows: res.rows})
			}
		}
		// The whole dashboard, all teams: one after another, then six at a
		// time (a browser's connections per host; Grafana sends each panel
		// as its own request).
		var seq []float64
		var par []float64
		for range dashRepeats {
			t := time.Now()
			for _, q := range qs {
				if _, err := ch.query(expanded[q.name][0]); err != nil {
					return r, err
				}
			}
			seq = append(seq, time.Since(t).Seconds())
			t = time.Now()
			sem := make(chan struct{}, 6)
			var wg sync.WaitGroup
			var mu sync.Mutex
			var perr error
			for _, q := range qs {
				wg.Add(1)
				sem <- struct{}{}
				go func(sql string) {
					defer wg.Done()
					defer func() { <-sem }()
					if _, err := ch.query(sql); err != nil {
						mu.Lock()
						perr = err
						mu.Unlock()
					}
				}(expanded[q.name][0])
			}
			wg.Wait()
			if perr != nil {
				return r, perr
			}
			par = append(par, time.Since(t).Seconds())
		}
		sort.Float64s(seq)
		sort.Float64s(par)
		rep.FullLoad[days], rep.FullLoadParallel[days] = seq[len(seq)/2], par[len(par)/2]
		if len(before) > 0 {
			var bs []float64
			for range dashRepeats {
				t := time.Now()
				for _, q := range before {
					if _, err := ch.query(expanded[q.name][0]); err != nil {
						return r, err
					}
				}
				bs = append(bs, time.Since(t).Seconds())
			}
			sort.Float64s(bs)
			rep.FullLoadBefore[days] = bs[len(bs)/2]
		}
	}
	// uniq (the rollup's states) against uniqExact over the raw rows:
	// distinct accounts per rep over the whole year.
	cmp, err := ch.rows(`SELECT a.rep_id, a.n, b.n FROM
  (SELECT rep_id, toUInt64(uniqMerge(accounts)) AS n FROM salespulse.rep_activity_daily GROUP BY rep_id) AS a
  INNER JOIN (SELECT rep_id, toUInt64(uniqExact(account_id)) AS n FROM salespulse.rep_accounts_daily GROUP BY rep_id) AS b
  ON a.rep_id = b.rep_id`)
	if err != nil {
		return r, err
	}
	for _, row := range cmp {
		approx, _ := strconv.ParseFloat(row[1], 64)
		exact, _ := strconv.ParseFloat(row[2], 64)
		rep.AccountsReps++
		if approx != exact {
			rep.AccountsDiffer++
			rep.AccountsMaxRelErr = math.Max(rep.AccountsMaxRelErr, math.Abs(approx-exact)/exact)
		}
	}
	// The panels' whole months (rep_accounts_monthly) against the daily
	// states over the same days: uniq depends only on the set of hashes.
	n, err := ch.scalar(`SELECT count() FROM
  (SELECT rep_id, toUInt64(uniqMerge(accounts)) AS n FROM salespulse.rep_activity_daily GROUP BY rep_id) AS a
  FULL JOIN (SELECT rep_id, toUInt64(uniqMerge(accounts)) AS n FROM salespulse.rep_accounts_monthly GROUP BY rep_id) AS b
  ON a.rep_id = b.rep_id WHERE a.n != b.n`)
	if err != nil {
		return r, err
	}
	rep.AccountsMonthlyDiffer = int(n)
	for _, c := range dashCopies {
		// toString: a hash of a row with a NULL would be NULL, and sum
		// would skip it.
		fp := func(q string) string {
			res, err := ch.query("SELECT count(), sum(cityHash64(toString(tuple(*)))) FROM (" + q + ")")
			if err != nil {
				return err.Error()
			}
			return strings.TrimSpace(res.body)
		}
		if a, b := fp(c.copy), fp(c.source); a != b {
			rep.CopiesDiffer = append(rep.CopiesDiffer, fmt.Sprintf("%s: %s, its source %s (count, sum of hashes)", c.table, a, b))
		}
	}
	raw, _ := json.MarshalIndent(rep, "", "  ")
	if err := os.WriteFile(filepath.Join(c.out, "dashboards.json"), raw, 0o644); err != nil {
		return r, err
	}
	printDashboards(os.Stdout, rep, oneTeam)
	r.Events = float64(rep.Interactions)
	r.Seconds = rep.LoadSeconds
	r.EventsPS = r.Events / r.Seconds
	return r, nil
}

// printDashboards prints one line per panel: seconds and read_rows at 30
// and 365 days for all teams and one team, and the one-team share of the
// all-teams read_rows.
func printDashboards(w io.Writer, rep dashReport, oneTeam string) {
	fmt.Fprintf(w, "\nSales KBIs on %d interactions (%d reps, %d teams, %d working days), loaded by SQL in %.0f s; median of %d runs per query\n",
		rep.Interactions, rep.Reps, rep.Teams, dashDays, rep.LoadSeconds, dashRepeats)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "panel\t30 d all s\t30 d one s\t365 d all s\t365 d one s\t365 d all read_rows\t365 d one read_rows\tone/all 30 d\tone/all 365 d\t")
	get := func(panel string, days int, team string) dashTiming {
		for _, t := range rep.Timings {
			if t.Panel == panel && t.Days == days && t.Team == team {
				return t
			}
		}
		return dashTiming{}
	}
	ratio := func(a, b int64) string {
		if b == 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f %%", 100*float64(a)/float64(b))
	}
	seen := map[string]bool{}
	for _, t := range rep.Timings {
		if seen[t.Panel] {
			continue
		}
		seen[t.Panel] = true
		a30, o30, a365, o365 := get(t.Panel, 30, "all"), get(t.Panel, 30, oneTeam), get(t.Panel, 365, "all"), get(t.Panel, 365, oneTeam)
		fmt.Fprintf(tw, "%s\t%.3f\t%.3f\t%.3f\t%.3f\t%d\t%d\t%s\t%s\t\n", t.Panel, a30.Seconds, o30.Seconds, a365.Seconds, o365.Seconds,
			a365.ReadRows, o365.ReadRows, ratio(o30.ReadRows, a30.ReadRows), ratio(o365.ReadRows, a365.ReadRows))
	}
	tw.Flush()
	fmt.Fprintf(w, "full load, all teams: 30 d %.2f s (%.2f s six at a time), 365 d %.2f s (%.2f s six at a time)\n",
		rep.FullLoad[30], rep.FullLoadParallel[30], rep.FullLoad[365], rep.FullLoadParallel[365])
	if len(rep.FullLoadBefore) > 0 {
		fmt.Fprintf(w, "full load of --dash-before's panels, all teams, one after another: 30 d %.2f s, 365 d %.2f s\n", rep.FullLoadBefore[30], rep.FullLoadBefore[365])
	}
	fmt.Fprintf(w, "accounts per rep over the year, uniq vs uniqExact: %d of %d reps differ, max relative error %.5f\n",
		rep.AccountsDiffer, rep.AccountsReps, rep.AccountsMaxRelErr)
	fmt.Fprintf(w, "accounts per rep over the year, monthly uniq states vs daily: %d reps differ\n", rep.AccountsMonthlyDiffer)
	fmt.Fprintf(w, "team-first copies (migration 014) that differ from their sources: %d of %d %q\n", len(rep.CopiesDiffer), len(dashCopies), rep.CopiesDiffer)
	keys := make([]string, 0, len(rep.TableRows))
	for k := range rep.TableRows {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, rep.TableRows[k]))
	}
	fmt.Fprintf(w, "rows: %s\n", strings.Join(parts, ", "))
}

// repoDir is the module root: make bench runs from it; go test runs the
// package's directory, three levels down.
func repoDir() string {
	for _, d := range []string{".", "../../.."} {
		if _, err := os.Stat(filepath.Join(d, "deploy/grafana/dashboards")); err == nil {
			return d
		}
	}
	return "."
}

// dashLoad fills the stack with a year for reps reps, by SQL. Interactions
// first (their views fill activity_per_minute and activity_hourly), then
// what the window stage would insert (activity_daily, rep_accounts_daily,
// the fact tables) computed from them, month by month to bound memory,
// then alerts and team targets.
func dashLoad(ch *chClient, reps int) error {
	// dayOf(w): the w-th working day.
	day := fmt.Sprintf("(toDate('%s') + (intDiv(w, 5) * 7 + w %% 5))", dashStart.Format(time.DateOnly))
	n := int64(reps) * dashDays * dashPerRepDay
	stmts := []string{
		fmt.Sprintf(`INSERT INTO salespulse.interactions (event_id, occurred_at, source, type, direction, channel, rep_id, team_id, account_id,
    duration_s, contact_key, schema_version, kafka_topic, kafka_partition, kafka_first_offset, kafka_last_offset, ingested_at)
SELECT concat('ev-', toString(number)) AS event_id,
    toDateTime64(toDateTime(%[1]s) + 8 * 3600 + intDiv(k * 28800, %[2]d) + cityHash64(number, 0) %% 190, 3, 'UTC') AS occurred_at,
    'bench' AS source,
    multiIf(h < 25, 'email.sent', h < 35, 'email.received', h < 50, 'call.outbound', h < 60, 'call.inbound', h < 70, 'meeting.held', h < 85, 'social.message', 'chat.message') AS type,
    multiIf(h < 25, 'outbound', h < 35, 'inbound', h < 50, 'outbound', h < 60, 'inbound', h < 85, 'outbound', 'inbound') AS direction,
    multiIf(h < 35, 'email', h < 60, 'call', h < 70, 'meeting', h < 85, 'social', 'chat') AS channel,
    concat('rep-', leftPad(toString(rep), 4, '0')) AS rep_id,
    concat('team-', leftPad(toString(intDiv(rep, %[3]d)), 3, '0')) AS team_id,
    concat('acct-', toString(rep), '-', toString(cityHash64(number, 2) %% 150)) AS account_id,
    if(h >= 35 AND h < 70, toFloat64(60 + cityHash64(number, 3) %% 900), NULL) AS duration_s,
    hex(cityHash64(number, 4)) AS contact_key, 1, 'bench', 0, 0, 0, now64(3)
FROM (SELECT number, intDiv(number, %[4]d) AS w, intDiv(number %% %[4]d, %[2]d) AS rep, number %% %[2]d AS k, cityHash64(number, 1) %% 100 AS h
      FROM numbers(%[5]d))
SETTINGS insert_deduplicate = 0`, day, dashPerRepDay, dashTeamSize, reps*dashPerRepDay, n),
	}
	// Market signals: one per 10 rep-days, half for accounts, half for
	// domains only; the unmatched_signals panel looks for them.
	stmts = append(stmts, fmt.Sprintf(`INSERT INTO salespulse.interactions (event_id, occurred_at, source, type, direction, channel, account_id,
    attributes, contact_key, schema_version, kafka_topic, kafka_partition, kafka_first_offset, kafka_last_offset, ingested_at)
SELECT concat('sig-', toString(number)), toDateTime64(toDateTime(%[1]s) + 7 * 3600 + number %% 3600, 3, 'UTC'), 'bench', 'account.signal', 'inbound', 'signal',
    if(number %% 2 = 0, concat('acct-', toString(number %% %[2]d), '-1'), ''),
    map('signal_kind', ['funding', 'hiring', 'leadership'][1 + number %% 3], 'signal_domain', concat('d', toString(number %% 5000), '.example'),
        'signal_company', concat('Company ', toString(number %% 5000)), 'signal_url', 'https://news.example/1'),
    '', 1, 'bench', 0, 0, 0, now64(3)
FROM (SELECT number, intDiv(number, %[3]d) AS w FROM numbers(%[4]d))
SETTINGS insert_deduplicate = 0`, day, reps, max(reps/10, 1), max(reps/10, 1)*dashDays))
	for m := dashStart; m.Before(dashEnd); m = m.AddDate(0, 1, 0) {
		month := m.Format("200601")
		stmts = append(stmts,
			`INSERT INTO salespulse.activity_daily (day, team_id, rep_id, channel, type, direction, interactions, duration_s)
SELECT toDate(occurred_at) AS day, team_id, rep_id, channel, type, direction,
    toUInt64(count()), sum(ifNull(duration_s, 0))
FROM salespulse.interactions WHERE toYYYYMM(occurred_at) = `+month+` AND type != 'account.signal'
GROUP BY day, team_id, rep_id, channel, type, direction SETTINGS insert_deduplicate = 0`,
			`INSERT INTO salespulse.rep_accounts_daily SELECT DISTINCT toDate(occurred_at) AS day, team_id, rep_id, account_id
FROM salespulse.interactions WHERE toYYYYMM(occurred_at) = `+month+` AND rep_id != '' SETTINGS insert_deduplicate = 0`)
	}
	rd := reps * dashDays
	stmts = append(stmts,
		// 5 leads per rep and working day; 1 in 10 unanswered.
		fmt.Sprintf(`INSERT INTO salespulse.lead_response_facts (day, trigger_at, lead_id, trigger_event_id, trigger_type, trigger_channel, owner_rep_id, team_id, time_zone, is_answered, responder_rep_id, response_event_id, response_at, response_type, response_channel, response_s, business_s)
SELECT %[1]s AS day, toDateTime64(toDateTime(day) + 9 * 3600 + (number %% 5) * 5400, 3, 'UTC') AS trigger_at,
    concat('lead-', toString(number)) AS lead_id, concat('lt-', toString(number)), 'lead.created',
    ['email', 'call', 'chat', 'social'][1 + h %% 4] AS trigger_channel,
    rep_id, team_id, 'UTC', h %% 10 != 0 AS is_answered, if(is_answered, rep_id, ''), if(is_answered, concat('lr-', toString(number)), ''),
    if(is_answered, trigger_at + toIntervalSecond(resp), NULL), if(is_answered, 'email.sent', ''), if(is_answered, 'email', ''),
    if(is_answered, toFloat64(resp), NULL), if(is_answered, toFloat64(resp), NULL)
FROM (SELECT number, intDiv(number, %[2]d) AS w, intDiv(number %% %[2]d, 5) AS rep, cityHash64(number, 5) AS h, 30 + cityHash64(number, 6) %% 5400 AS resp,
        concat('rep-', leftPad(toString(rep), 4, '0')) AS rep_id, concat('team-', leftPad(toString(intDiv(rep, %[3]d)), 3, '0')) AS team_id
      FROM numbers(%[4]d))
SETTINGS insert_deduplicate = 0`, day, reps*5, dashTeamSize, rd*5),
		// An approval request every other working day per rep.
		fmt.Sprintf(`INSERT INTO salespulse.approval_facts (day, requested_at, approval_id, request_event_id, rep_id, team_id, time_zone, outcome, approver_id, decision_event_id, decided_at, latency_s)
SELECT %[1]s AS day, toDateTime64(toDateTime(day) + 10 * 3600, 3, 'UTC') AS requested_at, concat('ap-', toString(number)), concat('ar-', toString(number)),
    rep_id, team_id, 'UTC', ['approved', 'approved', 'rejected', 'expired'][1 + h %% 4] AS outcome, if(outcome = 'expired', '', 'mgr'),
    if(outcome = 'expired', '', concat('ad-', toString(number))), if(outcome = 'expired', NULL, requested_at + toIntervalSecond(lat)),
    if(outcome = 'expired', NULL, toFloat64(lat))
FROM (SELECT number, intDiv(number, %[2]d) AS w, number %% %[2]d AS rep, cityHash64(number, 7) AS h, 60 + cityHash64(number, 8) %% 100000 AS lat,
        concat('rep-', leftPad(toString(rep), 4, '0')) AS rep_id, concat('team-', leftPad(toString(intDiv(rep, %[3]d)), 3, '0')) AS team_id
      FROM numbers(%[4]d) WHERE (w + rep) %% 2 = 0)
SETTINGS insert_deduplicate = 0`, day, reps, dashTeamSize, rd),
		// A quote per rep and working day; a won or lost deal on 3 in 10.
		fmt.Sprintf(`INSERT INTO salespulse.deal_facts (day, occurred_at, event_id, type, rep_id, team_id, account_id, currency, amount, list_price, discount_pct)
SELECT %[1]s AS day, toDateTime64(toDateTime(day) + 11 * 3600 + k * 3600, 3, 'UTC'), concat('df-', toString(number)),
    if(k = 0, 'quote.created', if(h %% 2 = 0, 'deal.won', 'deal.lost')) AS type, rep_id, team_id, concat('acct-', toString(rep), '-', toString(h %% 150)),
    'EUR', toFloat64(10000 - h %% 3000), if(k = 0, toFloat64(10000), NULL), if(k = 0, toFloat64(h %% 30), NULL)
FROM (SELECT number, intDiv(number, %[2]d) AS w, intDiv(number %% %[2]d, 2) AS rep, number %% 2 AS k, cityHash64(number, 9) AS h,
        concat('rep-', leftPad(toString(rep), 4, '0')) AS rep_id, concat('team-', leftPad(toString(intDiv(rep, %[3]d)), 3, '0')) AS team_id
      FROM numbers(%[4]d) WHERE k = 0 OR h %% 10 < 3)
SETTINGS insert_deduplicate = 0`, day, reps*2, dashTeamSize, rd*2),
		// Two alerts per rep and working day, each pending then firing;
		// 1 in 50 a market signal.
		fmt.Sprintf(`INSERT INTO salespulse.alerts (id, rule, state, severity, rep_id, team_id, manager_id, summary, event_ids, `+"`values`"+`, at, version, ingested_at)
SELECT concat('al-', toString(a)), if(h %% 50 = 0, 'market_signal', ['lead_unanswered', 'discount_over_authority', 'approval_stale'][1 + h %% 3]),
    if(s = 0, 'pending', 'firing'), 'warning', rep_id, team_id, 'mgr', 'bench alert', [], map('kind', ['funding', 'hiring'][1 + h %% 2]),
    toDateTime64(toDateTime(%[1]s) + 9 * 3600 + (a %% 2) * 14400 + s * 60, 3, 'UTC') AS at, toUInt64(toUnixTimestamp64Milli(at)) * 4 + s, now64(3)
FROM (SELECT number, intDiv(number, 2) AS a, number %% 2 AS s, intDiv(a, %[2]d) AS w, intDiv(a %% %[2]d, 2) AS rep, cityHash64(a, 10) AS h,
        concat('rep-', leftPad(toString(rep), 4, '0')) AS rep_id, concat('team-', leftPad(toString(intDiv(rep, %[3]d)), 3, '0')) AS team_id
      FROM numbers(%[4]d))
SETTINGS insert_deduplicate = 0`, day, reps*2, dashTeamSize, rd*4),
		fmt.Sprintf(`INSERT INTO salespulse.team_targets SELECT concat('team-', leftPad(toString(number), 3, '0')), 120, now64(3) FROM numbers(%d)`, reps/dashTeamSize),
	)
	for _, s := range stmts {
		if _, err := ch.query(s); err != nil {
			return fmt.Errorf("%w\n%s", err, s)
		}
	}
	return nil
}

// chClient talks to ClickHouse's HTTP interface, as Grafana's plugin does.
type chClient struct {
	addr string
}

type chResult struct {
	seconds  float64
	readRows int64
	rows     int
	body     string
}

func (c *chClient) query(sql string) (chResult, error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, "http://"+c.addr+"/?default_format=TabSeparated", strings.NewReader(sql))
	if err != nil {
		return chResult{}, err
	}
	t := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return chResult{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	res := chResult{seconds: time.Since(t).Seconds(), body: string(body)}
	if err != nil {
		return res, err
	}
	if resp.StatusCode != http.StatusOK {
		return res, fmt.Errorf("HTTP %d: %s", resp.StatusCode, body)
	}
	var sum struct {
		ReadRows string `json:"read_rows"`
	}
	if err := json.Unmarshal([]byte(resp.Header.Get("X-ClickHouse-Summary")), &sum); err != nil {
		return res, fmt.Errorf("X-ClickHouse-Summary %q: %w", resp.Header.Get("X-ClickHouse-Summary"), err)
	}
	res.readRows, _ = strconv.ParseInt(sum.ReadRows, 10, 64)
	if s := strings.TrimRight(res.body, "\n"); s != "" {
		res.rows = strings.Count(s, "\n") + 1
	}
	return res, nil
}

func (c *chClient) scalar(sql string) (int64, error) {
	res, err := c.query(sql)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(res.body), 10, 64)
}

func (c *chClient) rows(sql string) ([][]string, error) {
	res, err := c.query(sql)
	if err != nil {
		return nil, err
	}
	var out [][]string
	for _, l := range strings.Split(strings.TrimRight(res.body, "\n"), "\n") {
		if l != "" {
			out = append(out, strings.Split(l, "\t"))
		}
	}
	return out, nil
}
