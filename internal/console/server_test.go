package console

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/salespulse/salespulse/schemas"
)

// fakeStore records every query and answers with fill (nil: no rows).
type fakeStore struct {
	mu    sync.Mutex
	calls []call
	fill  func(dest any, query string, params map[string]string) error
}

type call struct {
	query  string
	params map[string]string
}

func (f *fakeStore) Select(_ context.Context, dest any, query string, params map[string]string) error {
	f.mu.Lock()
	f.calls = append(f.calls, call{query, params})
	fill := f.fill
	f.mu.Unlock()
	if fill != nil {
		return fill(dest, query, params)
	}
	return nil
}

func (f *fakeStore) recorded() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

var testOrg = &schemas.Org{
	Teams: []schemas.Team{{ID: "team-01", Name: "North", ManagerID: "rep-01-00"}},
	Reps:  []schemas.Rep{{ID: "rep-01-00", Name: "Mona Manager", TeamID: "team-01"}, {ID: "rep-01-01", Name: "Ray Rep", TeamID: "team-01"}},
}

func newTestServer(t *testing.T, cfg Config, deps Deps) (*Server, *fakeStore) {
	t.Helper()
	st, _ := deps.Store.(*fakeStore)
	if st == nil {
		st = &fakeStore{}
		deps.Store = st
	}
	if deps.Org == nil {
		deps.Org = testOrg
	}
	s, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	return s, st
}

func do(t *testing.T, h http.Handler, method, target string, hdr ...string) (*http.Response, string) {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for k := 0; k+1 < len(hdr); k += 2 {
		r.Header.Set(hdr[k], hdr[k+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	b, _ := io.ReadAll(w.Result().Body)
	return w.Result(), string(b)
}

// Bad parameters are answered 400 with a reason that names the
// parameter, and no query runs.
func TestBadParameters(t *testing.T) {
	s, st := newTestServer(t, Config{}, Deps{})
	f := func(target, reason string) {
		t.Helper()
		before := len(st.recorded())
		resp, body := do(t, s.Handler(), "GET", target)
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("%s: status %d, want 400 (%s)", target, resp.StatusCode, body)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s: content type %q", target, ct)
		}
		var e struct{ Error string }
		if err := json.Unmarshal([]byte(body), &e); err != nil || !strings.Contains(e.Error, reason) {
			t.Errorf("%s: error %q, want it to contain %q", target, body, reason)
		}
		if n := len(st.recorded()) - before; n != 0 {
			t.Errorf("%s: %d queries ran for a bad request", target, n)
		}
	}
	f("/api/v1/kbi/response?from=2026-13-01&to=2026-12-01", `from: "2026-13-01" is not a date (YYYY-MM-DD)`)
	f("/api/v1/kbi/activity?from=yesterday", `from: "yesterday" is not a date`)
	f("/api/v1/kbi/accounts?to=2026-02-30", `to: "2026-02-30" is not a date`)
	f("/api/v1/kbi/discounts?from=2026-12-01&to=2026-11-01", "from (2026-12-01) is after to (2026-11-01)")
	f("/api/v1/kbi/approvals?from=2024-01-01&to=2026-01-01", "from..to spans 732 days; at most 366")
	f("/api/v1/kbi/deals?from=1900-01-01&to=1900-01-02", "from: 1900-01-01 is out of range")
	f("/api/v1/kbi/response/reps?team=north%27%20OR%201=1", `team: "north' OR 1=1" is not an id`)
	f("/api/v1/kbi/activity?rep="+strings.Repeat("r", 129), "rep: ")
	f("/api/v1/alerts?limit=0", `limit: "0" is not an integer from 1 to 1000`)
	f("/api/v1/alerts?limit=ten", `limit: "ten" is not an integer`)
	f("/api/v1/alerts?team=a/b", `team: "a/b" is not an id`)
	f("/api/v1/leads/lead%20one/journey", `lead_id: "lead one" is not an id`)
	f("/api/v1/kbi/forecast?from=2026-12-01&to=2026-11-01", "from (2026-12-01) is after to (2026-11-01)")
	f("/api/v1/kbi/forecast?team=a%20b", `team: "a b" is not an id`)
	f("/api/v1/deals/scores?limit=1001", `limit: "1001" is not an integer from 1 to 1000`)
	f("/api/v1/deals/scores?team=a/b", `team: "a/b" is not an id`)
	f("/api/v1/signals?limit=x", `limit: "x" is not an integer`)
	f("/api/v1/signals?from=2026-02-30", `from: "2026-02-30" is not a date`)
}

// Request values reach the store as query parameters only; every query is
// bounded by LIMIT and max_execution_time.
func TestQueriesAreParameterisedAndBounded(t *testing.T) {
	s, st := newTestServer(t, Config{MaxRows: 777, MaxExecutionTime: 3 * time.Second}, Deps{})
	for _, target := range []string{
		"/api/v1/meta", "/api/v1/overview",
		"/api/v1/kbi/response?from=2026-11-02&to=2026-11-29&team=team-01",
		"/api/v1/kbi/response/reps?from=2026-11-02&to=2026-11-29&team=team-01",
		"/api/v1/kbi/activity?from=2026-11-02&to=2026-11-29&rep=rep-01-01",
		"/api/v1/kbi/accounts?from=2026-11-02&to=2026-11-29",
		"/api/v1/kbi/discounts?from=2026-11-02&to=2026-11-29",
		"/api/v1/kbi/approvals?from=2026-11-02&to=2026-11-29",
		"/api/v1/kbi/deals?from=2026-11-02&to=2026-11-29",
		"/api/v1/alerts?limit=5&team=team-01",
		"/api/v1/leads/lead-42/journey",
		"/api/v1/kbi/forecast?from=2026-11-02&to=2026-11-29&team=team-01&rep=rep-01-01",
		"/api/v1/deals/scores?team=team-01&limit=5",
		"/api/v1/signals?from=2026-11-02&to=2026-11-29&team=team-01&limit=5",
	} {
		before := len(st.recorded())
		resp, body := do(t, s.Handler(), "GET", target)
		if resp.StatusCode != http.StatusOK && !(strings.Contains(target, "journey") && resp.StatusCode == http.StatusNotFound) {
			t.Errorf("%s: status %d: %s", target, resp.StatusCode, body)
		}
		calls := st.recorded()[before:]
		if len(calls) == 0 {
			t.Errorf("%s: no query", target)
		}
		for _, c := range calls {
			for _, v := range []string{"team-01", "rep-01-01", "lead-42", "2026-11-02"} {
				if strings.Contains(c.query, v) {
					t.Errorf("%s: request value %q in the SQL text", target, v)
				}
			}
			if !strings.Contains(c.query, "max_execution_time = 3") {
				t.Errorf("%s: query without max_execution_time = 3:\n%s", target, c.query)
			}
			if strings.HasPrefix(c.query, "SELECT toUInt64(count())") {
				continue // one-row aggregates
			}
			if !strings.Contains(c.query, "LIMIT 777") && !strings.Contains(c.query, "LIMIT {limit:UInt64}") {
				t.Errorf("%s: query without LIMIT:\n%s", target, c.query)
			}
		}
	}
}

func TestJourneyNotFound(t *testing.T) {
	s, _ := newTestServer(t, Config{}, Deps{})
	resp, body := do(t, s.Handler(), "GET", "/api/v1/leads/lead-1/journey")
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, `"error":"no events for lead lead-1"`) {
		t.Fatalf("status %d %s", resp.StatusCode, body)
	}
}

func TestStoreErrors(t *testing.T) {
	f := func(storeErr error, code int, reason string) {
		t.Helper()
		s, _ := newTestServer(t, Config{}, Deps{Store: &fakeStore{fill: func(any, string, map[string]string) error { return storeErr }}})
		resp, body := do(t, s.Handler(), "GET", "/api/v1/kbi/activity?from=2026-11-02&to=2026-11-03")
		if resp.StatusCode != code || !strings.Contains(body, reason) {
			t.Errorf("%v: got %d %s, want %d %q", storeErr, resp.StatusCode, body, code, reason)
		}
		if strings.Contains(body, "SELECT") {
			t.Errorf("the answer shows SQL: %s", body)
		}
	}
	f(errors.Join(ErrUnavailable, errors.New("connection refused")), 503, "clickhouse is unavailable")
	f(context.DeadlineExceeded, 503, "clickhouse is unavailable")
	f(errors.New("code 47: unknown identifier in SELECT x"), 500, `"error":"query failed"`)
}

func TestAuth(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CONSOLE_TEST_PASSWORD", "pa55")
	bearer, _ := newTestServer(t, Config{Listen: "0.0.0.0:0", Auth: AuthConfig{Mode: AuthBearer, TokenFile: tokenFile}}, Deps{})
	basic, _ := newTestServer(t, Config{Listen: "0.0.0.0:0", Auth: AuthConfig{Mode: AuthBasic, User: "sales", PasswordEnv: "CONSOLE_TEST_PASSWORD"}}, Deps{})
	open, _ := newTestServer(t, Config{Listen: "127.0.0.1:0"}, Deps{})
	f := func(name string, s *Server, code int, hdr ...string) {
		t.Helper()
		for _, target := range []string{"/api/v1/meta", "/"} {
			resp, body := do(t, s.Handler(), "GET", target, hdr...)
			if resp.StatusCode != code && !(target == "/" && code == 200 && resp.StatusCode == 404) {
				t.Errorf("%s %s: status %d, want %d (%s)", name, target, resp.StatusCode, code, body)
			}
			if code == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s: 401 without WWW-Authenticate", name)
			}
		}
	}
	f("bearer, no header", bearer, 401)
	f("bearer, wrong token", bearer, 401, "Authorization", "Bearer nope")
	f("bearer, token as basic password", bearer, 401, "Authorization", "Basic "+b64("x:s3cret-token"))
	f("bearer, right token (the file's newline is not part of it)", bearer, 200, "Authorization", "Bearer s3cret-token")
	f("basic, no header", basic, 401)
	f("basic, wrong password", basic, 401, "Authorization", "Basic "+b64("sales:nope"))
	f("basic, wrong user", basic, 401, "Authorization", "Basic "+b64("admin:pa55"))
	f("basic, right", basic, 200, "Authorization", "Basic "+b64("sales:pa55"))
	f("none on loopback", open, 200)

	if _, err := New(Config{Listen: "0.0.0.0:8090"}, Deps{Store: &fakeStore{}}); !errors.Is(err, ErrAuthRequired) {
		t.Errorf("auth none beyond loopback: %v, want ErrAuthRequired", err)
	}
	if _, err := New(Config{Listen: "127.0.0.1:8090", Auth: AuthConfig{Mode: AuthBearer, TokenEnv: "CONSOLE_TEST_UNSET"}}, Deps{Store: &fakeStore{}}); !errors.Is(err, ErrSecretEnv) {
		t.Errorf("bearer without its token: %v, want ErrSecretEnv", err)
	}
}

func b64(s string) string {
	r := httptest.NewRequest("GET", "/", nil)
	u, p, _ := strings.Cut(s, ":")
	r.SetBasicAuth(u, p)
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}

func TestLoopback(t *testing.T) {
	for host, want := range map[string]bool{"127.0.0.1": true, "::1": true, "localhost": true, "127.0.0.2": true,
		"": false, "0.0.0.0": false, "::": false, "10.0.0.1": false, "console.example.com": false} {
		if got := isLoopback(host); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestAck(t *testing.T) {
	s, _ := newTestServer(t, Config{}, Deps{})
	resp, body := do(t, s.Handler(), "POST", "/api/v1/alerts/a1/ack")
	if resp.StatusCode != 404 || !strings.Contains(body, `"error":"acknowledgement is not configured"`) {
		t.Errorf("without ack: %d %s", resp.StatusCode, body)
	}
	var got string
	ack := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Method + " " + r.URL.Path + " " + r.Header.Get("Authorization")
		w.WriteHeader(http.StatusAccepted)
	})
	s, _ = newTestServer(t, Config{}, Deps{Ack: ack})
	resp, _ = do(t, s.Handler(), "POST", "/api/v1/alerts/a1/ack", "Authorization", "Bearer ack-token")
	if resp.StatusCode != http.StatusAccepted || got != "POST /api/v1/alerts/a1/ack Bearer ack-token" {
		t.Errorf("forwarded: %d %q", resp.StatusCode, got)
	}
	resp, _ = do(t, s.Handler(), "GET", "/api/v1/alerts/a1/ack")
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET ack: %d, want 404", resp.StatusCode)
	}
}

func TestAssets(t *testing.T) {
	assets := fstest.MapFS{
		"index.html":       {Data: []byte("<!doctype html><title>SalesPulse</title>")},
		"app.js":           {Data: []byte("console.log(1)")},
		"style.css":        {Data: []byte("body{}")},
		"vendor/README.md": {Data: []byte("fetched by scripts/fetch-echarts.sh")},
	}
	s, _ := newTestServer(t, Config{}, Deps{Assets: assets})
	f := func(target string, code int, ctype, cache string) {
		t.Helper()
		resp, body := do(t, s.Handler(), "GET", target)
		if resp.StatusCode != code {
			t.Fatalf("%s: %d %s", target, resp.StatusCode, body)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, ctype) {
			t.Errorf("%s: content type %q, want %s", target, ct, ctype)
		}
		if cc := resp.Header.Get("Cache-Control"); cache != "" && cc != cache {
			t.Errorf("%s: cache control %q, want %q", target, cc, cache)
		}
		if code == 200 && !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("%s: no CSP", target)
		}
	}
	f("/", 200, "text/html", "no-cache")
	f("/app.js", 200, "text/javascript", "public, max-age=60, must-revalidate")
	f("/style.css", 200, "text/css", "")
	f("/nope.js", 404, "text/plain", "")
	f("/api/v1/nope", 404, "application/json", "")

	bare, _ := newTestServer(t, Config{}, Deps{})
	resp, body := do(t, bare.Handler(), "GET", "/")
	if resp.StatusCode != 404 || !strings.Contains(body, "not built into this binary") {
		t.Errorf("without assets: %d %s", resp.StatusCode, body)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, _ := newTestServer(t, Config{}, Deps{Registerer: reg})
	do(t, s.Handler(), "GET", "/api/v1/meta")
	do(t, s.Handler(), "GET", "/api/v1/meta")
	do(t, s.Handler(), "GET", "/api/v1/kbi/activity?from=x")
	err := testutil.CollectAndCompare(reg, strings.NewReader(`
# HELP salespulse_console_requests_total Console HTTP requests by route and status code (route auth: refused before routing).
# TYPE salespulse_console_requests_total counter
salespulse_console_requests_total{code="200",route="meta"} 2
salespulse_console_requests_total{code="400",route="kbi_activity"} 1
`), "salespulse_console_requests_total")
	if err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(reg, "salespulse_console_request_duration_seconds"); n != 17 {
		t.Errorf("duration series = %d, want one per timed route (17)", n)
	}
}

// The stream sends alerts stored after the connection started, once each,
// and comments as heartbeats.
func TestStream(t *testing.T) {
	start := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var polls int
	var mu sync.Mutex
	st := &fakeStore{fill: func(dest any, query string, params map[string]string) error {
		rows, ok := dest.(*[]alertScan)
		if !ok {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		polls++
		if polls >= 2 { // the same row on every later poll: sent once
			*rows = []alertScan{{ID: "a1", Rule: "lead_response_sla", Severity: "warning", State: "firing", At: start,
				TeamID: "team-01", RepID: "rep-01-01", LeadID: "lead-9", Summary: "lead-9 unanswered for 31m", Version: 7,
				IngestedAt: start.Add(time.Second)}}
		}
		return nil
	}}
	s, _ := newTestServer(t, Config{}, Deps{Store: st, Now: func() time.Time { return start },
		PollInterval: 10 * time.Millisecond, Heartbeat: 30 * time.Millisecond})
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/api/v1/alerts/stream", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("content type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	var events, beats int
	var data string
	for sc.Scan() && (events == 0 || beats < 2) {
		line := sc.Text()
		switch {
		case line == ": heartbeat":
			beats++
		case strings.HasPrefix(line, "data: "):
			events++
			data = strings.TrimPrefix(line, "data: ")
		}
	}
	if events != 1 || beats < 2 {
		t.Fatalf("events %d, heartbeats %d", events, beats)
	}
	var a Alert
	if err := json.Unmarshal([]byte(data), &a); err != nil || a.ID != "a1" || a.LeadID != "lead-9" || a.At != "2026-12-01T09:00:00Z" || a.Acknowledged {
		t.Errorf("event %s: %+v %v", data, a, err)
	}
	if since := st.recorded()[0].params["since"]; since != "1796115600000" {
		t.Errorf("first poll since %s, want the connection's start", since)
	}
}

// Streams beyond maxStreams are refused, not polled.
func TestStreamLimit(t *testing.T) {
	s, _ := newTestServer(t, Config{}, Deps{})
	for range maxStreams {
		s.streams <- struct{}{}
	}
	resp, body := do(t, s.Handler(), "GET", "/api/v1/alerts/stream")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "too many alert streams") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

func TestPeriodInProgress(t *testing.T) {
	last := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	f := func(kind, start string, want bool) {
		t.Helper()
		if got := periodInProgress(kind, start, last); got != want {
			t.Errorf("%s from %s with data to %s: in progress %v, want %v", kind, start, last.Format(time.DateOnly), got, want)
		}
	}
	f("month", "2026-12-01", true)
	f("month", "2026-11-01", false) // data from December: November is over
	f("month", "2027-01-01", true)
	f("quarter", "2026-10-01", true)
	f("quarter", "2026-07-01", false)
	f("month", "not a day", true)
	last = time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	f("month", "2026-11-01", true) // its last day may still be filling
}
