package ops

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
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

// chHTTP runs q over ClickHouse's HTTP interface and returns the number of
// result rows.
func chHTTP(addr, q string) (int, error) {
	resp, err := http.Post("http://"+addr+"/?default_format=TabSeparated", "text/plain", strings.NewReader(q))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("HTTP %d: %s", resp.StatusCode, body)
	}
	s := strings.TrimRight(string(body), "\n")
	if s == "" {
		return 0, nil
	}
	return strings.Count(s, "\n") + 1, nil
}
