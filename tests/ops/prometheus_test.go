package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/salespulse/salespulse/internal/testenv"
)

// EnvPrometheus set to 1/true makes missing promtool/prometheus binaries
// fatal (CI sets it; scripts/test.sh installs the Debian package).
const EnvPrometheus = "SALESPULSE_PROMETHEUS_TESTS"

// requireBinary returns the path of name, skipping the test when it is
// missing, or failing it when SALESPULSE_PROMETHEUS_TESTS says it must be
// there.
func requireBinary(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if testenv.Required(EnvPrometheus) {
		t.Fatalf("%s is set but %s is not installed (Debian package prometheus; scripts/test.sh installs it)", EnvPrometheus, name)
	}
	t.Skipf("%s not installed: apt-get install prometheus (%s=1 makes this fatal)", name, EnvPrometheus)
	return ""
}

func TestPromtoolChecks(t *testing.T) {
	promtool := requireBinary(t, "promtool")
	dir := filepath.Join(repoRoot(t), "deploy/prometheus")
	for _, args := range [][]string{
		{"check", "config", "prometheus.yml"},
		{"check", "rules", "rules/salespulse.rules.yml"},
		{"test", "rules", "tests/salespulse.rules.test.yml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestPrometheusScrapesStack starts a real Prometheus with the repository's
// scrape config and rules, pointed at the running embedded stack's
// /metrics, and proves through the Prometheus HTTP API that the target is
// up, every rule is loaded and evaluates with health ok, the salespulse_
// metrics are queryable, and every Pipeline health dashboard query runs.
func TestPrometheusScrapesStack(t *testing.T) {
	prom := requireBinary(t, "prometheus")
	st := startStack(t)
	root := repoRoot(t)

	raw, err := os.ReadFile(filepath.Join(root, "deploy/prometheus/prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	// Same file, three changes: the salespulse job scrapes the test stack
	// (and only it), every second; rules by absolute path; no
	// Alertmanager (there is none here).
	cfg["global"].(map[string]any)["scrape_interval"] = "1s"
	cfg["global"].(map[string]any)["evaluation_interval"] = "1s"
	var rules []any
	for _, r := range cfg["rule_files"].([]any) {
		rules = append(rules, filepath.Join(root, "deploy/prometheus", r.(string)))
	}
	cfg["rule_files"] = rules
	delete(cfg, "alerting")
	var jobs []any
	for _, j := range cfg["scrape_configs"].([]any) {
		job := j.(map[string]any)
		if job["job_name"] == "salespulse" {
			job["static_configs"] = []any{map[string]any{"targets": []any{st.HTTPAddr()}}}
			jobs = append(jobs, job)
		}
	}
	if len(jobs) != 1 {
		t.Fatal("deploy/prometheus/prometheus.yml has no salespulse job")
	}
	cfg["scrape_configs"] = jobs
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, out, 0o644); err != nil {
		t.Fatal(err)
	}

	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, prom,
		"--config.file="+cfgFile,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	var logs logBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus output:\n%s", logs.String())
		}
	})
	api := "http://" + addr

	waitUntil(t, "prometheus ready", 30*time.Second, func() bool {
		resp, err := http.Get(api + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	var targets struct {
		ActiveTargets []struct {
			Labels    map[string]string `json:"labels"`
			Health    string            `json:"health"`
			LastError string            `json:"lastError"`
		} `json:"activeTargets"`
	}
	waitUntil(t, "salespulse target up", 30*time.Second, func() bool {
		promAPI(t, api, "/api/v1/targets", nil, &targets)
		for _, tg := range targets.ActiveTargets {
			if tg.Labels["job"] == "salespulse" && tg.Health == "up" {
				return true
			}
		}
		return false
	})

	var rulesResp struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Name           string `json:"name"`
				Type           string `json:"type"`
				Health         string `json:"health"`
				LastError      string `json:"lastError"`
				LastEvaluation string `json:"lastEvaluation"`
			} `json:"rules"`
		} `json:"groups"`
	}
	waitUntil(t, "every rule evaluated", 30*time.Second, func() bool {
		promAPI(t, api, "/api/v1/rules", nil, &rulesResp)
		n := 0
		for _, g := range rulesResp.Groups {
			for _, r := range g.Rules {
				if r.Health != "ok" || strings.HasPrefix(r.LastEvaluation, "0001-") {
					return false
				}
				n++
			}
		}
		return n > 0
	})
	var alerts, records int
	for _, g := range rulesResp.Groups {
		for _, r := range g.Rules {
			if r.Type == "alerting" {
				alerts++
			} else {
				records++
			}
		}
	}
	if alerts < 10 || records < 3 {
		t.Errorf("loaded %d alerting and %d recording rules, want at least 10 and 3", alerts, records)
	}

	// The scraped counter holds at least every generated record.
	var q queryResult
	waitUntil(t, "records consumed queryable", 30*time.Second, func() bool {
		promAPI(t, api, "/api/v1/query", url.Values{"query": {`sum(salespulse_kafka_records_total{topic="sales.canonical"})`}}, &q)
		return len(q.Result) == 1 && q.value(0) >= float64(len(st.events))
	})
	waitUntil(t, "recording rule series", 30*time.Second, func() bool {
		promAPI(t, api, "/api/v1/query", url.Values{"query": {"salespulse:consumer_lag:sum"}}, &q)
		return len(q.Result) > 0
	})

	// Every Pipeline health query runs (returning data is not required:
	// hook metrics exist only with hooks configured).
	for file, d := range loadDashboards(t) {
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				if tg.Expr == "" {
					continue
				}
				expr := strings.NewReplacer("$__rate_interval", "1m", "$__interval", "15s").Replace(tg.Expr)
				var r queryResult
				if err := promQuery(api, expr, &r); err != nil {
					t.Errorf("%s %q: %s: %v", file, p.Title, expr, err)
				}
			}
		}
	}
}

type queryResult struct {
	ResultType string `json:"resultType"`
	Result     []struct {
		Metric map[string]string `json:"metric"`
		Value  []any             `json:"value"`
	} `json:"result"`
}

func (q *queryResult) value(k int) float64 {
	if len(q.Result[k].Value) != 2 {
		return 0
	}
	v, _ := strconv.ParseFloat(fmt.Sprint(q.Result[k].Value[1]), 64)
	return v
}

func promQuery(api, expr string, out *queryResult) error {
	resp, err := http.Get(api + "/api/v1/query?" + url.Values{"query": {expr}}.Encode())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var env struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return err
	}
	if env.Status != "success" {
		return fmt.Errorf("status %s: %s", env.Status, env.Error)
	}
	return json.Unmarshal(env.Data, out)
}

// promAPI GETs a Prometheus API path and decodes its data into out.
func promAPI(t *testing.T, api, path string, q url.Values, out any) {
	t.Helper()
	u := api + path
	if q != nil {
		u += "?" + q.Encode()
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Logf("GET %s: %v", u, err)
		return
	}
	defer resp.Body.Close()
	var env struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil || env.Status != "success" {
		t.Logf("GET %s: status %s, %v", u, env.Status, err)
		return
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		t.Logf("GET %s: %v", u, err)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitUntil polls cond until it holds or d passes.
func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
