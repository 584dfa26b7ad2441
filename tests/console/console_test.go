// Package console drives the sales console (issue 14) in a real Chromium
// over the DevTools protocol, against the embedded stack with generator
// data (stack_test.go): every page loads without console errors or
// exceptions and draws non-empty charts, the live alert feed shows a newly
// fired alert within seconds, no page or API response carries a
// generator contact's e-mail or phone, and without the chart library the
// tables still render with a notice. Screenshots go to t.ArtifactDir()
// (go test -artifacts keeps them); CONSOLE_SCREENSHOT=docs/img/console.png
// refreshes the README's picture of the overview.
//
// Chromium is Debian's chromium package (scripts/test.sh installs it). The
// suite skips when it is absent, unless SALESPULSE_BROWSER_TESTS=1, which
// CI sets: then a missing browser fails.
package console

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/salespulse/salespulse/internal/testenv"
)

// EnvBrowser set to 1/true makes a missing Chromium fatal (CI sets it).
const envBrowser = "SALESPULSE_BROWSER_TESTS"

// consoleStack is a console serving generator data, however started.
type consoleStack struct {
	// URL is the console's base URL, ending in "/".
	URL string
	// FireAlert makes the pipeline fire a new alert now and returns its
	// lead id; nil when the stack cannot (a console given by CONSOLE_URL).
	FireAlert func(t *testing.T) string
	// Personal are the generator's contact e-mails and phone numbers, by
	// personalKey: no page and no API response may contain one.
	Personal map[string]bool
}

// The pages of the contract (internal/console/web); the lead journey is
// added with a lead id the alerts name.
var pageRoutes = []string{"overview", "response", "activity", "accounts", "discounts", "approvals", "deals",
	"forecast", "scores", "signals", "alerts"}

// browserPath finds Chromium, or skips (fails, when SALESPULSE_BROWSER_TESTS
// says it must be there).
func browserPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SALESPULSE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if testenv.Required(envBrowser) {
		t.Fatalf("%s is set but no Chromium is on PATH: apt-get install chromium (scripts/test.sh does) or set SALESPULSE_CHROMIUM", envBrowser)
	}
	t.Skipf("no Chromium on PATH: apt-get install chromium (%s=1 makes this fatal)", envBrowser)
	return ""
}

// newBrowser starts one headless Chromium for the test.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browserPath(t)),
		chromedp.WindowSize(1440, 960),
		// Root in CI containers cannot use Chromium's sandbox.
		chromedp.NoSandbox,
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start %s: %v", browserPath(t), err)
	}
	return bctx
}

// tab is one browser tab with its console collected.
type tab struct {
	ctx  context.Context
	mu   sync.Mutex
	msgs []chromedp.ConsoleMessage
}

func newTab(t *testing.T, browser context.Context) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	tb := &tab{ctx: ctx}
	msgs := chromedp.Console(ctx) // subscribes now, before the first page
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			tb.mu.Lock()
			tb.msgs = append(tb.msgs, m)
			tb.mu.Unlock()
		}
	}()
	return tb
}

// problems returns the errors and exceptions the page logged since the
// last call: console.error, uncaught exceptions and rejections, and
// browser log entries of level error (failed requests among them).
func (tb *tab) problems() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	var out []string
	for _, m := range tb.msgs {
		if m.Type == chromedp.ConsoleError || m.IsException() {
			s := m.String()
			if m.URL != "" {
				s += fmt.Sprintf(" (%s:%d)", m.URL, m.Line)
			}
			out = append(out, s)
		}
	}
	tb.msgs = nil
	return out
}

// load navigates to url as a fresh page load and waits until the app says
// the page is rendered (html[data-state] "ready" or "error"). It returns
// the state and the wall time from navigation to rendered.
func (tb *tab) load(t *testing.T, url string) (string, time.Duration) {
	t.Helper()
	// From about:blank, so that a hash-only change is a full load too.
	if err := chromedp.Do(tb.ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := chromedp.Do(tb.ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("navigate %s: %v", url, err)
	}
	var state string
	var err error
	for attempt := 0; ; attempt++ {
		state, err = chromedp.Run(tb.ctx, chromedp.Poll[string](
			`(s => s === "ready" || s === "error" ? s : false)(document.documentElement.dataset.state)`,
			chromedp.WithPollingTimeout(60*time.Second), chromedp.WithPollingInterval(20*time.Millisecond)))
		// Right after a navigation the poll can land in the previous
		// document's execution context, which is gone (seen once in a
		// few runs): poll again in the new one.
		if err == nil || attempt == 5 || !strings.Contains(err.Error(), "context with specified id") && !strings.Contains(err.Error(), "context was destroyed") {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(start)
	if err != nil {
		t.Fatalf("%s: not rendered after %s: %v", url, took, err)
	}
	return state, took
}

// evalJS evaluates js in the tab and decodes its value into a T.
func evalJS[T any](t *testing.T, tb *tab, js string) T {
	t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %.80q: %v", js, err)
	}
	return v
}

// chartState is what chartsJS reports per .chart box.
type chartState struct {
	Title    string `json:"title"`
	Instance bool   `json:"instance"`
	Points   int    `json:"points"`
	Painted  int    `json:"painted"`
	Width    int    `json:"width"`
}

// chartsJS reports each chart box: its ECharts instance, the data points
// of its series, and how many sampled canvas pixels are painted.
const chartsJS = `Array.from(document.querySelectorAll(".chart")).map(el => {
  const inst = window.echarts && echarts.getInstanceByDom(el);
  const opt = inst ? inst.getOption() : null;
  let points = 0;
  for (const s of (opt && opt.series) || []) {
    for (const v of s.data || []) {
      const y = Array.isArray(v) ? v[1] : (v && typeof v === "object" ? v.value : v);
      if (y != null && y !== "-") points++;
    }
  }
  let painted = 0, width = 0;
  const cv = el.querySelector("canvas");
  if (cv) {
    width = cv.width;
    const d = cv.getContext("2d").getImageData(0, 0, cv.width, cv.height).data;
    for (let i = 3; i < d.length; i += 4 * 13) if (d[i] !== 0) painted++;
  }
  return {title: el.dataset.title || "", instance: !!inst, points, painted, width};
})`

// pageTextJS is everything a reader or a scraper gets from the page.
const pageTextJS = `document.documentElement.outerHTML + "\n" + document.body.innerText`

func TestPages(t *testing.T) {
	browser := newBrowser(t)
	st := startConsole(t)
	tb := newTab(t, browser)
	dir := t.ArtifactDir()

	routes := append([]string(nil), pageRoutes...)
	if lead := anyLead(t, st); lead != "" {
		routes = append(routes, "lead/"+lead)
	} else {
		t.Errorf("no alert names a lead: the lead journey page is not tested")
	}
	var timings []string
	for _, route := range routes {
		name := strings.SplitN(route, "/", 2)[0]
		t.Run(name, func(t *testing.T) {
			state, took := tb.load(t, st.URL+"#/"+route)
			renders := evalJS[[]struct {
				MS float64 `json:"ms"`
			}](t, tb, `window.salespulse.renders`)
			inPage := 0.0
			if len(renders) > 0 {
				inPage = renders[len(renders)-1].MS
			}
			t.Logf("page %s: loaded in %s (navigation to rendered; in-page render %.0f ms)", route, took.Round(time.Millisecond), inPage)
			timings = append(timings, fmt.Sprintf("%s=%s", name, took.Round(time.Millisecond)))
			if state != "ready" {
				msg := evalJS[string](t, tb, `(document.querySelector("#page .notice.error") || {}).textContent || ""`)
				t.Errorf("page %s: state %q: %s", route, state, msg)
			}

			// Charts: at least one per page, each with data and pixels.
			var charts []chartState
			deadline := time.Now().Add(5 * time.Second)
			for {
				charts = evalJS[[]chartState](t, tb, chartsJS)
				ok := len(charts) > 0
				for _, c := range charts {
					ok = ok && c.Instance && c.Points > 0 && c.Painted > 50
				}
				if ok || time.Now().After(deadline) {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if len(charts) == 0 {
				t.Errorf("page %s draws no chart", route)
			}
			for _, c := range charts {
				if !c.Instance || c.Points == 0 || c.Painted <= 50 {
					t.Errorf("page %s: chart %q is empty: instance %v, %d data points, %d painted pixels sampled on a %d px canvas", route, c.Title, c.Instance, c.Points, c.Painted, c.Width)
				}
			}
			if evalJS[int](t, tb, `document.querySelectorAll("#page table.data").length`) == 0 {
				t.Errorf("page %s shows no table", route)
			}

			png, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatalf("screenshot: %v", err)
			}
			writeFile(t, filepath.Join(dir, name+".png"), png)
			if name == "overview" {
				if p := os.Getenv("CONSOLE_SCREENSHOT"); p != "" {
					shot, err := chromedp.Run(tb.ctx, chromedp.CaptureScreenshot())
					if err != nil {
						t.Fatalf("screenshot: %v", err)
					}
					writeFile(t, moduleRelative(t, p), shot)
				}
			}

			checkNoPersonal(t, "page "+route, evalJS[string](t, tb, pageTextJS), st.Personal)
			for _, p := range tb.problems() {
				t.Errorf("page %s: %s", route, p)
			}
		})
	}
	t.Logf("page load times: %s (screenshots in %s)", strings.Join(timings, " "), dir)
}

// TestAlertFeed fires a new alert through the pipeline and waits for it
// on the alerts page, which must show it over server-sent events within
// seconds of the API having it; with acknowledgement on, its Acknowledge
// button must be accepted.
func TestAlertFeed(t *testing.T) {
	browser := newBrowser(t)
	st := startConsole(t)
	if st.FireAlert == nil {
		t.Skip("this console (CONSOLE_URL) gives the test no way to fire an alert")
	}
	tb := newTab(t, browser)
	if state, _ := tb.load(t, st.URL+"#/alerts"); state != "ready" {
		t.Fatalf("alerts page: state %q", state)
	}
	if _, err := chromedp.Run(tb.ctx, chromedp.Poll[bool](`document.querySelector(".live").dataset.live === "open"`,
		chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("the alert stream did not open: %v", err)
	}
	lead := st.FireAlert(t)
	fired := time.Now()
	// The API's first sight of the alert, polled beside the page: the feed
	// must follow it within seconds, whatever the pipeline's own delay
	// from the deadline to the stored alert.
	apiSeen := make(chan time.Time, 1)
	go func() {
		for time.Since(fired) < 90*time.Second {
			// Not get: t.Fatal must not be called off the test's goroutine.
			if resp, err := http.Get(st.URL + "api/v1/alerts?limit=100"); err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if strings.Contains(string(body), `"`+lead+`"`) {
					apiSeen <- time.Now()
					return
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		close(apiSeen)
	}()
	found := fmt.Sprintf(`Array.from(document.querySelectorAll("tr.alert-row")).some(tr => tr.textContent.includes(%q))`, lead)
	if _, err := chromedp.Run(tb.ctx, chromedp.Poll[bool](found,
		chromedp.WithPollingTimeout(90*time.Second), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		t.Fatalf("no alert for lead %s on the page %s after the trigger: %v", lead, time.Since(fired).Round(time.Second), err)
	}
	seen := time.Now()
	// The alert as streamed (not the newest: an earlier live lead's
	// escalation may arrive meanwhile).
	last := evalJS[struct{ ID, At, LeadID, Rule, State string }](t, tb, fmt.Sprintf(
		`(a => a ? {ID: a.id, At: a.at, LeadID: a.lead_id, Rule: a.rule, State: a.state} : {})(window.salespulse.streamed.find(a => a.lead_id === %q && a.rule === "lead_response_sla"))`, lead))
	if last.ID == "" {
		t.Fatalf("lead %s is on the page, but no lead_response_sla alert for it came over the stream", lead)
	}
	at, err := time.Parse(time.RFC3339Nano, last.At)
	if err != nil {
		t.Fatalf("alert at %q: %v", last.At, err)
	}
	stored, ok := <-apiSeen
	if !ok {
		t.Fatalf("the page shows alert %s but GET /api/v1/alerts never did", last.ID)
	}
	lag := seen.Sub(stored)
	t.Logf("alert %s (%s, lead %s): due at %s; queryable %s after; on the page %s after it was queryable, %s after the trigger event",
		last.ID, last.Rule, last.LeadID, at.Format(time.TimeOnly), stored.Sub(at).Round(time.Millisecond), lag.Round(time.Millisecond), seen.Sub(fired).Round(time.Millisecond))
	if lag > 5*time.Second {
		t.Errorf("the alert reached the page %s after the API had it, want within seconds (5 s)", lag)
	}
	if last.State != "firing" {
		t.Errorf("the streamed alert is %+v, want the firing breach of lead %s", last, lead)
	}

	ack := evalJS[bool](t, tb, `!!(window.salespulse.meta && window.salespulse.meta.ack)`)
	if ack && strings.HasPrefix(last.Rule, "lead_response_sla") && last.State == "firing" {
		btn := fmt.Sprintf(`tr[data-alert-id=%q] button.ack`, last.ID)
		if err := chromedp.Do(tb.ctx, chromedp.Click(chromedp.CSS(btn))); err != nil {
			t.Fatalf("acknowledge %s: %v", last.ID, err)
		}
		res, err := chromedp.Run(tb.ctx, chromedp.Poll[string](fmt.Sprintf(`(r => r && (r.querySelector(".error-inline") ? "error: " + r.textContent : (/Acknowledged/.test(r.textContent) ? "ok" : false)))(document.querySelector(%q))`, fmt.Sprintf(`tr[data-alert-id=%q]`, last.ID)),
			chromedp.WithPollingTimeout(20*time.Second)))
		if err != nil || res != "ok" {
			t.Errorf("acknowledge %s: %q, %v", last.ID, res, err)
		} else {
			t.Logf("alert %s acknowledged through the console", last.ID)
		}
	}
	for _, p := range tb.problems() {
		t.Errorf("alerts page: %s", p)
	}
}

// TestWithoutChartLibrary blocks echarts.min.js, as a build without
// scripts/fetch-echarts.sh serves none: every page keeps its tables and
// says why there are no charts.
func TestWithoutChartLibrary(t *testing.T) {
	browser := newBrowser(t)
	st := startConsole(t)
	tb := newTab(t, browser)
	if _, err := chromedp.Call(tb.ctx, network.SetBlockedURLs, network.SetBlockedURLsParams{
		URLPatterns: []*network.BlockPattern{{URLPattern: "*://*:*/assets/vendor/echarts.min.js", Block: true}},
	}); err != nil {
		t.Fatal(err)
	}
	for _, route := range []string{"activity", "response", "forecast"} {
		if state, _ := tb.load(t, st.URL+"#/"+route); state != "ready" {
			t.Fatalf("%s without charts: state %q", route, state)
		}
		got := evalJS[struct {
			Charts   string `json:"charts"`
			Notice   string `json:"notice"`
			Rows     int    `json:"rows"`
			Canvases int    `json:"canvases"`
		}](t, tb, `({charts: document.documentElement.dataset.charts || "", notice: (document.querySelector("#notices .notice") || {}).textContent || "",
			rows: document.querySelectorAll("#page table.data tbody tr").length, canvases: document.querySelectorAll("#page canvas").length})`)
		// The blocked script is an expected failed load; an exception is not.
		tb.mu.Lock()
		msgs := tb.msgs
		tb.msgs = nil
		tb.mu.Unlock()
		for _, m := range msgs {
			if m.IsException() {
				t.Errorf("%s without charts: %s", route, m)
			}
		}
		if got.Charts != "unavailable" || !strings.Contains(got.Notice, "Charts are unavailable") || got.Rows == 0 || got.Canvases != 0 {
			t.Errorf("%s without the chart library: %+v, want the notice and table rows only", route, got)
			for _, m := range msgs {
				t.Logf("console: %s", m)
			}
		}
	}
}

// TestAPINoPersonalData reads every GET endpoint with its defaults and
// looks for the generator's contact e-mails and phone numbers.
func TestAPINoPersonalData(t *testing.T) {
	st := startConsole(t)
	paths := []string{"meta", "overview", "kbi/response", "kbi/response/reps", "kbi/activity", "kbi/accounts",
		"kbi/discounts", "kbi/approvals", "kbi/deals", "kbi/forecast", "deals/scores?limit=1000", "signals?limit=1000",
		"alerts?limit=1000"}
	if lead := anyLead(t, st); lead != "" {
		paths = append(paths, "leads/"+lead+"/journey")
	}
	for _, p := range paths {
		status, body := get(t, st.URL+"api/v1/"+p)
		if status != http.StatusOK {
			t.Errorf("GET %s: %d %s", p, status, body)
			continue
		}
		checkNoPersonal(t, "GET "+p, body, st.Personal)
	}
}

// Tokens that could be a contact's e-mail or phone number: checking each
// against the set of the generator's is fast where a substring search for
// each of ~40,000 contacts over every page is not.
var (
	emailToken = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+[A-Za-z0-9]`)
	phoneToken = regexp.MustCompile(`\+?[0-9][0-9 ()./\-]{5,}[0-9]`)
	nonDigit   = regexp.MustCompile(`[^0-9]`)
)

// personalKey is how contacts are compared: e-mails in lower case, phone
// numbers as their digits, whatever the formatting.
func personalKey(s string) string {
	if strings.Contains(s, "@") {
		return strings.ToLower(s)
	}
	return nonDigit.ReplaceAllString(s, "")
}

func checkNoPersonal(t *testing.T, where, text string, personal map[string]bool) {
	t.Helper()
	if len(personal) == 0 {
		t.Fatalf("no personal data to look for: the generator gave no contacts")
	}
	text = strings.ReplaceAll(strings.ReplaceAll(text, "%40", "@"), "%2B", "+")
	found := map[string]bool{}
	for _, re := range []*regexp.Regexp{emailToken, phoneToken} {
		for _, tok := range re.FindAllString(text, -1) {
			if k := personalKey(tok); personal[k] && !found[k] {
				found[k] = true
				t.Errorf("%s contains a generator contact's %q", where, tok)
			}
		}
	}
}

// anyLead returns the lead id of the newest alert that names one.
func anyLead(t *testing.T, st *consoleStack) string {
	t.Helper()
	status, body := get(t, st.URL+"api/v1/alerts?limit=100")
	if status != http.StatusOK {
		t.Fatalf("GET alerts: %d %s", status, body)
	}
	var res struct {
		Alerts []struct {
			LeadID string `json:"lead_id"`
		} `json:"alerts"`
	}
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		t.Fatalf("GET alerts: %v", err)
	}
	for _, a := range res.Alerts {
		if a.LeadID != "" {
			return a.LeadID
		}
	}
	return ""
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// moduleRelative resolves a relative path against the module root (go
// test runs in tests/console), so CONSOLE_SCREENSHOT=docs/img/console.png
// means the repository's docs/img.
func moduleRelative(t *testing.T, p string) string {
	t.Helper()
	if filepath.IsAbs(p) {
		return p
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, p)
		}
		if filepath.Dir(d) == d {
			return filepath.Join(dir, p)
		}
	}
}
