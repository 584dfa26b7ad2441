package ops

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/salespulse/salespulse/internal/grafana"
)

type (
	dashboard     = grafana.Dashboard
	datasourceRef = grafana.DatasourceRef
)

func loadDashboards(t *testing.T) map[string]dashboard {
	t.Helper()
	out, err := grafana.Load(filepath.Join(repoRoot(t), "deploy/grafana/dashboards"))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// grafanaInterval is what Grafana would pick for $__timeInterval over the
// test range on a panel ~1000 px wide; any value works for the queries.
const grafanaInterval = time.Hour

// expandGrafana is grafana.Expand (shared with the dashboard benchmark)
// at grafanaInterval.
func expandGrafana(sql string, vars map[string][]string, from, to time.Time) (string, error) {
	return grafana.Expand(sql, vars, from, to, grafanaInterval)
}

func defaults(t *testing.T, d dashboard) map[string][]string {
	t.Helper()
	vars, err := d.Defaults()
	if err != nil {
		t.Fatal(err)
	}
	return vars
}

func TestExpandGrafana(t *testing.T) {
	from := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	to := from.Add(24 * time.Hour)
	got, err := expandGrafana("SELECT $__timeInterval(at) t FROM x WHERE $__timeFilter(at) AND $__dateFilter(day) AND team IN (${team:singlequote}) AND n > $sla AND a >= $__fromTime AND a < $__toTime",
		map[string][]string{"team": {"t-1", "t-2"}, "sla": {"30"}}, from, to)
	if err != nil {
		t.Fatal(err)
	}
	want := "SELECT toStartOfInterval(toDateTime(at), INTERVAL 3600 second) t FROM x WHERE at >= toDateTime(1793577600) AND at <= toDateTime(1793664000) AND day >= toDate('2026-11-02') AND day <= toDate('2026-11-03') AND team IN ('t-1','t-2') AND n > 30 AND a >= toDateTime(1793577600) AND a < toDateTime(1793664000)"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if _, err := expandGrafana("SELECT $nope", nil, from, to); err == nil {
		t.Error("unknown variable accepted")
	}
	if _, err := expandGrafana("SELECT $__what(x)", nil, from, to); err == nil {
		t.Error("unknown macro accepted")
	}
}

// TestDashboardQueriesReturnRows runs every ClickHouse query of every
// dashboard — panels and template variables — against the embedded
// ClickHouse after a generator run, through ClickHouse's HTTP interface as
// the Grafana plugin would, and requires each to succeed with rows.
func TestDashboardQueriesReturnRows(t *testing.T) {
	st := startStack(t)
	n := 0
	for file, d := range loadDashboards(t) {
		vars := defaults(t, d)
		run := func(name, sql string) {
			n++
			t.Run(file+"/"+name, func(t *testing.T) {
				q, err := expandGrafana(sql, vars, rangeFrom, rangeTo)
				if err != nil {
					t.Fatal(err)
				}
				rows, err := chHTTP(st.ClickHouseAddr(), q)
				if err != nil {
					t.Fatalf("%v\nquery:\n%s", err, q)
				}
				if rows == 0 {
					t.Fatalf("no rows\nquery:\n%s", q)
				}
			})
		}
		for _, v := range d.Templating.List {
			if v.Type == "query" && v.Datasource.UID == "salespulse-clickhouse" {
				run("variable "+v.Name, fmt.Sprint(v.Query))
			}
		}
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				if tg.RawSQL != "" {
					run(p.Title+" "+tg.RefID, tg.RawSQL)
				}
			}
		}
	}
	if n < 15 {
		t.Errorf("only %d ClickHouse queries in the dashboards", n)
	}
}

// TestTeamFirstCopiesEqualSources: migration 014's team-first tables hold
// what their sources hold, on the rows the pipeline stored (its alerts
// included: alerts_team keeps the same latest row per alert only while an
// alert's team never changes), and the SLA panels, which 014 moved from
// lead_response_facts to lead_sla_owner_daily, give what their SQL on the
// facts gave, for limits below, among and above the stored response times,
// for all teams and for one.
func TestTeamFirstCopiesEqualSources(t *testing.T) {
	st := startStack(t)
	addr := st.ClickHouseAddr()
	// same compares two queries' results as sets of lines (the breach panel
	// orders by time only).
	same := func(what, got, want string) {
		t.Helper()
		g, err := chBody(addr, got)
		if err != nil {
			t.Fatalf("%s: %v\n%s", what, err, got)
		}
		w, err := chBody(addr, want)
		if err != nil {
			t.Fatalf("%s: %v\n%s", what, err, want)
		}
		gl, wl := strings.Split(strings.TrimRight(g, "\n"), "\n"), strings.Split(strings.TrimRight(w, "\n"), "\n")
		slices.Sort(gl)
		slices.Sort(wl)
		switch {
		case w == "":
			t.Errorf("%s: the source has no rows: nothing compared\n%s", what, want)
		case !slices.Equal(gl, wl):
			t.Errorf("%s: %d rows differ from the source's %d:\n got  %q\n want %q", what, len(gl), len(wl), gl, wl)
		default:
			t.Logf("%s: %d rows equal", what, len(wl))
		}
	}
	alerts := "SELECT id, rule, state, severity, rep_id, team_id, manager_id, summary, event_ids, toString(`values`), at, ends_at, version, ingested_at FROM salespulse.alerts FINAL"
	for _, c := range []struct{ table, copy, source string }{
		{"lead_sla_owner_daily",
			`SELECT day, team_id, owner_rep_id, trigger_channel, sum(leads), arraySort(groupArrayArray(answered_s)) FROM salespulse.lead_sla_owner_daily GROUP BY ALL`,
			`SELECT day, team_id, owner_rep_id, trigger_channel, count(), arraySort(groupArrayIf(assumeNotNull(response_s), response_s IS NOT NULL)) FROM salespulse.lead_response_facts GROUP BY ALL`},
		{"deal_facts_team", `SELECT * FROM salespulse.deal_facts_team`, `SELECT * EXCEPT (kafka_topic, kafka_partition, kafka_first_offset, kafka_last_offset) FROM salespulse.deal_facts`},
		{"alert_transitions_team", `SELECT * FROM salespulse.alert_transitions_team`, `SELECT * FROM salespulse.alert_transitions`},
		{"alerts_team", strings.Replace(alerts, "salespulse.alerts ", "salespulse.alerts_team ", 1), alerts},
	} {
		same(c.table, c.copy, c.source)
	}

	// The SLA panels as migration 013 left them, on lead_response_facts.
	facts := map[string]string{
		"Leads answered within SLA": `SELECT countIf(response_s <= ${sla_minutes} * 60) / count() AS within_sla
FROM salespulse.lead_response_facts
WHERE $__dateFilter(day)
  AND ('__all' IN (${team:singlequote}) OR team_id IN (${team:singlequote}))
  AND ('__all' IN (${channel:singlequote}) OR trigger_channel IN (${channel:singlequote}))`,
		"SLA breach rate by team": `SELECT toDateTime(day) AS time, team_id, countIf(response_s IS NULL OR response_s > ${sla_minutes} * 60) / count() AS breach_rate
FROM salespulse.lead_response_facts
WHERE $__dateFilter(day)
  AND ('__all' IN (${team:singlequote}) OR team_id IN (${team:singlequote}))
  AND ('__all' IN (${channel:singlequote}) OR trigger_channel IN (${channel:singlequote}))
GROUP BY time, team_id
ORDER BY time`,
	}
	team, err := chBody(addr, "SELECT min(team_id) FROM salespulse.lead_response_facts")
	if err != nil {
		t.Fatal(err)
	}
	d := loadDashboards(t)["sales-kbis.json"]
	n := 0
	for _, p := range d.Panels {
		old, ok := facts[p.Title]
		if !ok {
			continue
		}
		for _, tg := range p.Targets {
			n++
			for _, sla := range []string{"0", "1", "7.5", "30", "100000"} {
				for _, teams := range [][]string{{"__all"}, {strings.TrimSpace(team)}} {
					vars := defaults(t, d)
					vars["sla_minutes"], vars["team"] = []string{sla}, teams
					got, err := expandGrafana(tg.RawSQL, vars, rangeFrom, rangeTo)
					if err != nil {
						t.Fatal(err)
					}
					want, err := expandGrafana(old, vars, rangeFrom, rangeTo)
					if err != nil {
						t.Fatal(err)
					}
					same(fmt.Sprintf("%s, %s minutes, team %s", p.Title, sla, teams), got, want)
				}
			}
		}
	}
	if n != len(facts) {
		t.Errorf("found %d of the %d SLA panels", n, len(facts))
	}
}

// chHTTP runs q over ClickHouse's HTTP interface and returns the number of
// result rows.
func chHTTP(addr, q string) (int, error) {
	body, err := chBody(addr, q)
	if err != nil {
		return 0, err
	}
	s := strings.TrimRight(body, "\n")
	if s == "" {
		return 0, nil
	}
	return strings.Count(s, "\n") + 1, nil
}

// chBody runs q over ClickHouse's HTTP interface and returns its result as
// TabSeparated text.
func chBody(addr, q string) (string, error) {
	resp, err := http.Post("http://"+addr+"/?default_format=TabSeparated", "text/plain", strings.NewReader(q))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HTTP %d: %s", resp.StatusCode, body)
	}
	return string(body), nil
}
