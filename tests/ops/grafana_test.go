package ops

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// dashboard is the part of a Grafana dashboard JSON the tests read.
type dashboard struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
	Panels []struct {
		ID         int           `json:"id"`
		Title      string        `json:"title"`
		Type       string        `json:"type"`
		Datasource datasourceRef `json:"datasource"`
		Targets    []struct {
			RefID      string        `json:"refId"`
			Datasource datasourceRef `json:"datasource"`
			RawSQL     string        `json:"rawSql"`
			Expr       string        `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type variable struct {
	Name       string        `json:"name"`
	Type       string        `json:"type"`
	Datasource datasourceRef `json:"datasource"`
	Query      any           `json:"query"`
	AllValue   string        `json:"allValue"`
	Current    struct {
		Value any `json:"value"`
	} `json:"current"`
}

func loadDashboards(t *testing.T) map[string]dashboard {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "deploy/grafana/dashboards/*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards: %v", err)
	}
	out := map[string]dashboard{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = d
	}
	return out
}

// grafanaInterval is what Grafana would pick for $__timeInterval over the
// test range on a panel ~1000 px wide; any value works for the queries.
const grafanaInterval = time.Hour

var (
	macroCall = regexp.MustCompile(`\$__(\w+)\(([^()]*)\)`)
	macroBare = regexp.MustCompile(`\$__(fromTime_ms|toTime_ms|fromTime|toTime|interval_s)\b`)
	varRef    = regexp.MustCompile(`\$\{(\w+)(?::(\w+))?\}|\$(\w+)`)
)

// expandGrafana does what Grafana and grafana-clickhouse-datasource do to a
// panel's SQL before ClickHouse sees it: template variables first (the
// frontend), then the plugin's macros (pkg/macros/macros.go of
// grafana/clickhouse-datasource v4), for the range [from, to].
func expandGrafana(sql string, vars map[string][]string, from, to time.Time) (string, error) {
	var err error
	sql = varRef.ReplaceAllStringFunc(sql, func(m string) string {
		if strings.HasPrefix(m, "$__") {
			return m // a macro, not a variable
		}
		sub := varRef.FindStringSubmatch(m)
		name, format := sub[1], sub[2]
		if name == "" {
			name = sub[3]
		}
		vals, ok := vars[name]
		if !ok {
			err = fmt.Errorf("unknown template variable %s", m)
			return m
		}
		switch format {
		case "", "raw", "csv":
			return strings.Join(vals, ",")
		case "singlequote":
			q := make([]string, len(vals))
			for k, v := range vals {
				q[k] = "'" + strings.ReplaceAll(v, "'", `\'`) + "'"
			}
			return strings.Join(q, ",")
		}
		err = fmt.Errorf("unsupported variable format in %s", m)
		return m
	})
	if err != nil {
		return "", err
	}
	dt := func(t time.Time) string { return fmt.Sprintf("toDateTime(%d)", t.Unix()) }
	dt64 := func(t time.Time) string { return fmt.Sprintf("fromUnixTimestamp64Milli(%d)", t.UnixMilli()) }
	d := func(t time.Time) string { return fmt.Sprintf("toDate('%s')", t.Format(time.DateOnly)) }
	secs := int(max(grafanaInterval.Seconds(), 1))
	sql = macroCall.ReplaceAllStringFunc(sql, func(m string) string {
		sub := macroCall.FindStringSubmatch(m)
		args := strings.Split(sub[2], ",")
		for k := range args {
			args[k] = strings.TrimSpace(args[k])
		}
		c := args[0]
		switch sub[1] {
		case "timeFilter":
			return fmt.Sprintf("%s >= %s AND %s <= %s", c, dt(from), c, dt(to))
		case "timeFilter_ms":
			return fmt.Sprintf("%s >= %s AND %s <= %s", c, dt64(from), c, dt64(to))
		case "dateFilter":
			return fmt.Sprintf("%s >= %s AND %s <= %s", c, d(from), c, d(to))
		case "dateTimeFilter", "dt":
			if len(args) != 2 {
				err = fmt.Errorf("%s: want 2 arguments", m)
				return m
			}
			return fmt.Sprintf("(%s >= %s AND %s <= %s) AND (%s >= %s AND %s <= %s)", args[0], d(from), args[0], d(to), args[1], dt(from), args[1], dt(to))
		case "timeInterval":
			return fmt.Sprintf("toStartOfInterval(toDateTime(%s), INTERVAL %d second)", c, secs)
		case "timeInterval_ms":
			return fmt.Sprintf("toStartOfInterval(toDateTime64(%s, 3), INTERVAL %d millisecond)", c, secs*1000)
		}
		err = fmt.Errorf("unknown macro %s", m)
		return m
	})
	if err != nil {
		return "", err
	}
	sql = macroBare.ReplaceAllStringFunc(sql, func(m string) string {
		switch m {
		case "$__fromTime":
			return dt(from)
		case "$__toTime":
			return dt(to)
		case "$__fromTime_ms":
			return dt64(from)
		case "$__toTime_ms":
			return dt64(to)
		case "$__interval_s":
			return fmt.Sprint(secs)
		}
		return m
	})
	if strings.Contains(sql, "$") {
		return "", fmt.Errorf("unexpanded macro or variable left in:\n%s", sql)
	}
	return sql, nil
}

// defaults returns each template variable's default value(s): "All" is the
// variable's allValue, as Grafana sends it.
func defaults(t *testing.T, d dashboard) map[string][]string {
	t.Helper()
	vars := map[string][]string{}
	for _, v := range d.Templating.List {
		var vals []string
		switch cur := v.Current.Value.(type) {
		case string:
			vals = []string{cur}
		case []any:
			for _, x := range cur {
				vals = append(vals, fmt.Sprint(x))
			}
		default:
			t.Fatalf("%s: variable %s has no default (current.value)", d.Title, v.Name)
		}
		if len(vals) == 1 && vals[0] == "$__all" {
			if v.AllValue == "" {
				t.Fatalf("%s: variable %s defaults to All but has no allValue", d.Title, v.Name)
			}
			vals = []string{v.AllValue}
		}
		vars[v.Name] = vals
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
