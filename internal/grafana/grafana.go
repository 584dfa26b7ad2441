// Package grafana reads SalesPulse's Grafana dashboards and expands their
// ClickHouse SQL as Grafana and grafana-clickhouse-datasource do, so tests
// (tests/ops) and the dashboard benchmark (benchmarks/cmd/bench) run the
// exact queries a browser would send.
package grafana

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Dashboard is the part of a Grafana dashboard JSON that is read here.
type Dashboard struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []Variable `json:"list"`
	} `json:"templating"`
	Panels []Panel `json:"panels"`
}

// Panel is one dashboard panel and its queries.
type Panel struct {
	ID         int           `json:"id"`
	Title      string        `json:"title"`
	Type       string        `json:"type"`
	Datasource DatasourceRef `json:"datasource"`
	Targets    []struct {
		RefID      string        `json:"refId"`
		Datasource DatasourceRef `json:"datasource"`
		RawSQL     string        `json:"rawSql"`
		Expr       string        `json:"expr"`
	} `json:"targets"`
}

// DatasourceRef names a panel's or variable's data source.
type DatasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Variable is one template variable.
type Variable struct {
	Name       string        `json:"name"`
	Type       string        `json:"type"`
	Datasource DatasourceRef `json:"datasource"`
	Query      any           `json:"query"`
	AllValue   string        `json:"allValue"`
	Current    struct {
		Value any `json:"value"`
	} `json:"current"`
}

// Load reads every *.json dashboard in dir, keyed by file name.
func Load(dir string) (map[string]Dashboard, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no dashboards in %s", dir)
	}
	out := map[string]Dashboard{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var d Dashboard
		if err := json.Unmarshal(raw, &d); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		out[filepath.Base(f)] = d
	}
	return out, nil
}

// Defaults returns each template variable's default value(s): "All" is the
// variable's allValue, as Grafana sends it.
func (d Dashboard) Defaults() (map[string][]string, error) {
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
			return nil, fmt.Errorf("%s: variable %s has no default (current.value)", d.Title, v.Name)
		}
		if len(vals) == 1 && vals[0] == "$__all" {
			if v.AllValue == "" {
				return nil, fmt.Errorf("%s: variable %s defaults to All but has no allValue", d.Title, v.Name)
			}
			vals = []string{v.AllValue}
		}
		vars[v.Name] = vals
	}
	return vars, nil
}

var (
	macroCall = regexp.MustCompile(`\$__(\w+)\(([^()]*)\)`)
	macroBare = regexp.MustCompile(`\$__(fromTime_ms|toTime_ms|fromTime|toTime|interval_s)\b`)
	varRef    = regexp.MustCompile(`\$\{(\w+)(?::(\w+))?\}|\$(\w+)`)
)

// Expand does what Grafana and grafana-clickhouse-datasource do to a
// panel's SQL before ClickHouse sees it: template variables first (the
// frontend), then the plugin's macros (pkg/macros/macros.go of
// grafana/clickhouse-datasource v4), for the range [from, to] with
// interval as $__timeInterval's step.
func Expand(sql string, vars map[string][]string, from, to time.Time, interval time.Duration) (string, error) {
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
	secs := int(max(interval.Seconds(), 1))
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
		return "", errors.New("unexpanded macro or variable left in:\n" + sql)
	}
	return sql, nil
}
