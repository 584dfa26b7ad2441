package alert

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/salespulse/salespulse/schemas"
)

var now = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func TestSignAndVerify(t *testing.T) {
	body := []byte(`{"id":"a"}`)
	h := Sign([]byte("s3cret"), body, now)
	f := func(name string, secret, header string, body []byte, at time.Time, want error) {
		t.Helper()
		if err := Verify([]byte(secret), header, body, at, 5*time.Minute); !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", name, err, want)
		}
	}
	f("valid", "s3cret", h, body, now, nil)
	f("at the tolerance", "s3cret", h, body, now.Add(5*time.Minute), nil)
	f("replayed later", "s3cret", h, body, now.Add(5*time.Minute+time.Second), ErrSignatureExpired)
	f("from the future", "s3cret", h, body, now.Add(-6*time.Minute), ErrSignatureExpired)
	f("other secret", "other", h, body, now, ErrSignatureMismatch)
	f("tampered body", "s3cret", h, []byte(`{"id":"b"}`), now, ErrSignatureMismatch)
	f("rotated secrets", "s3cret", Sign([]byte("old"), body, now)+",v1="+strings.SplitN(h, "v1=", 2)[1], body, now, nil)
	f("no v1", "s3cret", "t=1", body, now, ErrSignatureMalformed)
	f("garbage", "s3cret", "nonsense", body, now, ErrSignatureMalformed)
}

func TestConfigValidate(t *testing.T) {
	ok := HookConfig{Name: "w", Type: HookWebhook, URL: "https://example.test/h", Secret: "x"}
	f := func(name string, mod func(*Config), want error) {
		t.Helper()
		c := Config{Hooks: []HookConfig{ok}}
		mod(&c)
		if err := c.Validate(); !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", name, err, want)
		}
	}
	f("valid", func(*Config) {}, nil)
	f("unknown type", func(c *Config) { c.Hooks[0].Type = "fax" }, ErrHookType)
	f("relative url", func(c *Config) { c.Hooks[0].URL = "/x" }, ErrURL)
	f("webhook without secret", func(c *Config) { c.Hooks[0].Secret, c.Hooks[0].SecretEnv = "", "SALESPULSE_UNSET_FOR_TEST" }, ErrSecret)
	f("duplicate name", func(c *Config) { c.Hooks = append(c.Hooks, ok) }, ErrDuplicate)
	f("bad severity", func(c *Config) { c.Hooks[0].MinSeverity = "urgent" }, ErrSeverity)
	f("negative rate", func(c *Config) { c.Hooks[0].RatePerSecond = -1 }, ErrNotPositive)
	f("park topic = topic", func(c *Config) { c.ParkTopic = "sales.alerts" }, ErrDuplicate)
	f("pagerduty default url", func(c *Config) { c.Hooks[0] = HookConfig{Name: "pd", Type: HookPagerDuty, Secret: "rk"} }, nil)
}

func testMessage(state schemas.AlertState) Message {
	a := schemas.Alert{ID: "abc", Rule: "lead_response_sla", State: state, Severity: schemas.SeverityWarning, RepID: "rep-1",
		TeamID: "team-1", ManagerID: "mgr-1", Summary: "Lead L1 had no response.", EventIDs: []string{"e1"},
		Values: map[string]string{"lead_id": "L1"}, At: now.Add(-time.Hour)}
	if state == schemas.AlertResolved {
		a.EndsAt = now.Add(-time.Minute)
	}
	return FromAlert(&a)
}

func body(t *testing.T, h hook, m Message) (*http.Request, map[string]any) {
	t.Helper()
	req, err := h.request(context.Background(), &m, now)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(req.Body)
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if l, ok := v.([]any); ok {
		return req, l[0].(map[string]any)
	}
	return req, v.(map[string]any)
}

func TestPayloads(t *testing.T) {
	firing, resolved := testMessage(schemas.AlertFiring), testMessage(schemas.AlertResolved)
	if firing.Version != uint64(now.Add(-time.Hour).UnixMilli())*4+2 || resolved.Version != uint64(now.Add(-time.Minute).UnixMilli())*4+3 {
		t.Fatalf("versions %d %d", firing.Version, resolved.Version)
	}
	_, pd := body(t, pagerDuty{url: "http://x", routingKey: "rk"}, firing)
	if pd["event_action"] != "trigger" || pd["dedup_key"] != "abc" || pd["payload"].(map[string]any)["severity"] != "warning" {
		t.Fatalf("pagerduty trigger %v", pd)
	}
	_, pd = body(t, pagerDuty{url: "http://x", routingKey: "rk"}, resolved)
	if pd["event_action"] != "resolve" || pd["payload"] != nil {
		t.Fatalf("pagerduty resolve %v", pd)
	}
	req, am := body(t, alertmanager{url: "http://am/", resolveAfter: time.Hour}, firing)
	if req.URL.Path != "/api/v2/alerts" || am["labels"].(map[string]any)["alertname"] != "lead_response_sla" || am["endsAt"] != now.Add(time.Hour).Format(time.RFC3339) {
		t.Fatalf("alertmanager firing %s %v", req.URL, am)
	}
	_, am = body(t, alertmanager{url: "http://am", resolveAfter: time.Hour}, resolved)
	if am["endsAt"] != now.Format(time.RFC3339) {
		t.Fatalf("alertmanager resolve ends now: %v", am)
	}
	_, sl := body(t, slack{url: "http://s"}, firing)
	if len(sl["blocks"].([]any)) != 3 || !strings.Contains(sl["text"].(string), "FIRING") {
		t.Fatalf("slack %v", sl)
	}
	req, wh := body(t, webhook{url: "http://w", secret: []byte("k")}, firing)
	if wh["id"] != "abc" || req.Header.Get("Idempotency-Key") != "abc:firing" || req.Header.Get(SignatureHeader) == "" {
		t.Fatalf("webhook %v %v", wh, req.Header)
	}
}

func TestRoutes(t *testing.T) {
	m := testMessage(schemas.AlertFiring)
	f := func(c HookConfig, want bool) {
		t.Helper()
		if c.MinSeverity == "" {
			c.MinSeverity = "info"
		}
		if routes(&c, &m) != want {
			t.Errorf("routes(%+v) != %v", c, want)
		}
	}
	f(HookConfig{}, true)
	f(HookConfig{MinSeverity: "critical"}, false)
	f(HookConfig{Teams: []string{"team-2"}}, false)
	f(HookConfig{Teams: []string{"team-1"}, Rules: []string{"lead_response_sla"}}, true)
	m.State = "pending"
	f(HookConfig{}, false)
	f(HookConfig{Pending: true}, true)
}

func TestBackoffIsJitteredAndBounded(t *testing.T) {
	for n := 1; n < 40; n++ {
		d := backoff(100*time.Millisecond, 2*time.Second, n)
		hi := min(2*time.Second, 100*time.Millisecond<<min(n-1, 30))
		if d < hi/2 || d > hi {
			t.Fatalf("attempt %d: %v not in [%v, %v]", n, d, hi/2, hi)
		}
	}
}

func TestRetryable(t *testing.T) {
	if !retryable(errors.New("timeout")) || retryable(permanentError{errors.New("400")}) {
		t.Fatal("retryable")
	}
}
