package ack

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sinks/alert"
	"github.com/salespulse/salespulse/sources/canonical"
)

// Slack's worked example in "Verifying requests from Slack"
// (https://api.slack.com/authentication/verifying-requests-from-slack):
// its signing secret, timestamp, raw body (a slash command) and the
// signature Slack computed for them. Slack's own vector, not one signed
// here, shows the base string is assembled as Slack assembles it.
const (
	docSecret    = "8f742231b10e8888abcd99yyyzzz85a5"
	docTimestamp = "1531420618"
	docBody      = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	docSignature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
)

func TestVerifySlackDocumentedExample(t *testing.T) {
	sec, _ := strconv.ParseInt(docTimestamp, 10, 64)
	at := time.Unix(sec, 0).Add(30 * time.Second)
	hdr := func(ts, sig string) http.Header {
		h := http.Header{}
		h.Set("X-Slack-Request-Timestamp", ts)
		h.Set("X-Slack-Signature", sig)
		return h
	}
	f := func(name, secret string, h http.Header, body string, now time.Time, want error) {
		t.Helper()
		if err := VerifySlack(secret, h, []byte(body), now); !errors.Is(err, want) {
			t.Errorf("%s: err = %v, want %v", name, err, want)
		}
	}
	f("Slack's example verifies", docSecret, hdr(docTimestamp, docSignature), docBody, at, nil)
	f("a tampered body", docSecret, hdr(docTimestamp, docSignature), strings.Replace(docBody, "roadrunner", "coyote", 1), at, ErrSlackSignature)
	f("the wrong secret", "8f742231b10e8888abcd99yyyzzz85a6", hdr(docTimestamp, docSignature), docBody, at, ErrSlackSignature)
	f("another timestamp", docSecret, hdr("1531420619", docSignature), docBody, time.Unix(sec+1, 0), ErrSlackSignature)
	f("older than 5 minutes", docSecret, hdr(docTimestamp, docSignature), docBody, time.Unix(sec, 0).Add(5*time.Minute+time.Second), ErrSlackStale)
	f("5 minutes ahead", docSecret, hdr(docTimestamp, docSignature), docBody, time.Unix(sec, 0).Add(-5*time.Minute-time.Second), ErrSlackStale)
	f("no v0= prefix", docSecret, hdr(docTimestamp, strings.TrimPrefix(docSignature, "v0=")), docBody, at, ErrSlackHeaders)
	f("no timestamp", docSecret, hdr("", docSignature), docBody, at, ErrSlackHeaders)
}

type fakeProducer struct {
	recs []string // topic key value
	err  error
}

func (p *fakeProducer) Produce(_ context.Context, topic string, key, value []byte) error {
	if p.err != nil {
		return p.err
	}
	p.recs = append(p.recs, topic+" "+string(key)+" "+string(value))
	return nil
}

type fakeLeads map[string]string

func (l fakeLeads) AlertLead(_ context.Context, id string) (string, error) {
	if id == "dddd0000000000000000000000000000" {
		return "", errors.New("clickhouse down")
	}
	if lead, ok := l[id]; ok {
		return lead, nil
	}
	return "", fmt.Errorf("alert %s: %w", id, ErrUnknownAlert)
}

const (
	alertA = "0123456789abcdef0123456789abcdef"
	alertB = "fedcba9876543210fedcba9876543210"
)

var now = time.Date(2026, 12, 4, 9, 31, 0, 123456789, time.UTC)

type env struct {
	h    *Handler
	prod *fakeProducer
	reg  *prometheus.Registry
}

func newEnv(cfg alert.AckConfig) *env {
	e := &env{prod: &fakeProducer{}, reg: prometheus.NewRegistry()}
	e.h = New(cfg, "crm.canonical", Options{Producer: e.prod, Leads: fakeLeads{alertA: "lead-7"},
		IsRep: func(id string) bool { return id == "ae-1" }, Now: func() time.Time { return now }, Registry: e.reg})
	return e
}

func (e *env) do(method, path, auth, ctype, body string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	for k := 0; k+1 < len(hdr); k += 2 {
		r.Header.Set(hdr[k], hdr[k+1])
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

// decode reads a produced record's value back through the canonical
// decoder, as the pipeline will.
func decode(t *testing.T, rec string) (topic, key string, i schemas.Interaction) {
	t.Helper()
	parts := strings.SplitN(rec, " ", 3)
	out, err := canonical.NewDecoder(nil).Decode(nil, []byte(parts[2]))
	if err != nil || len(out) != 1 {
		t.Fatalf("decode %s: %v", parts[2], err)
	}
	return parts[0], parts[1], out[0]
}

func TestAPI(t *testing.T) {
	e := newEnv(alert.AckConfig{Listen: ":8081", Token: "t0ken"})
	post := func(id, auth, body string) *httptest.ResponseRecorder {
		return e.do("POST", "/api/v1/alerts/"+id+"/ack", auth, "application/json", body)
	}
	for name, c := range map[string]struct {
		id, auth, body string
		status         int
		reason         string
	}{
		"no token":                  {alertA, "", "", 401, "bearer token"},
		"a wrong token":             {alertA, "Bearer nope", "", 401, "bearer token"},
		"not a bearer token":        {alertA, "Basic t0ken", "", 401, "bearer token"},
		"an unknown alert":          {alertB, "Bearer t0ken", "", 404, "no lead alert"},
		"not an alert id":           {"L1", "Bearer t0ken", "", 400, "32 lower-case hex"},
		"bad JSON":                  {alertA, "Bearer t0ken", `{"by":`, 400, "JSON object"},
		"an unknown field":          {alertA, "Bearer t0ken", `{"who":"x"}`, 400, "JSON object"},
		"an e-mail as acknowledger": {alertA, "Bearer t0ken", `{"by":"anna@example.com"}`, 400, "not a name or an e-mail"},
		"the alerts table is down":  {"dddd0000000000000000000000000000", "Bearer t0ken", "", 503, "retry"},
	} {
		w := post(c.id, c.auth, c.body)
		if w.Code != c.status || !strings.Contains(w.Body.String(), c.reason) {
			t.Errorf("%s: %d %s", name, w.Code, w.Body)
		}
	}
	if len(e.prod.recs) != 0 {
		t.Fatalf("rejected calls wrote %v", e.prod.recs)
	}

	// Found in the alerts table, by a rep: rep_id.
	w := post(alertA, "Bearer t0ken", `{"by":"ae-1"}`)
	if w.Code != http.StatusAccepted {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	topic, key, i := decode(t, e.prod.recs[0])
	if topic != "crm.canonical" || key != "lead-7" || i.Type != schemas.TypeAlertAcknowledged || i.LeadID != "lead-7" ||
		i.ApprovalID != alertA || i.RepID != "ae-1" || i.ApproverID != "" || !i.OccurredAt.Equal(now.Truncate(time.Millisecond)) ||
		i.EventID != EventID(alertA, "ae-1") || i.Source != Source {
		t.Fatalf("%s %s %+v", topic, key, i)
	}
	var resp map[string]string
	if json.Unmarshal(w.Body.Bytes(), &resp); resp["event_id"] != i.EventID || resp["lead_id"] != "lead-7" {
		t.Fatalf("response %s", w.Body)
	}
	// The lead named in the body (no lookup: alertB is unknown there); an
	// acknowledger who is no rep goes to approver_id; no body: "api".
	if w := post(alertB, "Bearer t0ken", `{"by":"oncall-bot","lead_id":"lead-9"}`); w.Code != http.StatusAccepted {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if _, key, i := decode(t, e.prod.recs[1]); key != "lead-9" || i.ApproverID != "oncall-bot" || i.RepID != "" {
		t.Fatalf("%s %+v", key, i)
	}
	if w := post(alertA, "Bearer t0ken", ""); w.Code != http.StatusAccepted {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	// A retry is the same event id: deduplicated downstream.
	post(alertA, "Bearer t0ken", `{"by":"ae-1"}`)
	if _, _, again := decode(t, e.prod.recs[3]); again.EventID != i.EventID {
		t.Fatalf("retry id %s, first %s", again.EventID, i.EventID)
	}

	e.prod.err = errors.New("kafka: NOT_ENOUGH_REPLICAS")
	if w := post(alertA, "Bearer t0ken", ""); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("kafka down: %d %s", w.Code, w.Body)
	}
	for outcome, n := range map[string]float64{"accepted": 4, "unauthorized": 3, "unknown_alert": 1, "bad_request": 4, "unavailable": 2} {
		if got := testutil.ToFloat64(e.h.reqs.WithLabelValues("api", outcome)); got != n {
			t.Errorf("api %s = %v, want %v", outcome, got, n)
		}
	}
}

// Without a token (a loopback listener) the API takes any caller; without
// a signing secret the Slack route is not served.
func TestAPIWithoutToken(t *testing.T) {
	e := newEnv(alert.AckConfig{Listen: "127.0.0.1:8081"})
	if w := e.do("POST", "/api/v1/alerts/"+alertA+"/ack", "", "", ""); w.Code != http.StatusAccepted {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if w := e.do("POST", "/slack/actions", "", "application/x-www-form-urlencoded", "payload={}"); w.Code != http.StatusNotFound {
		t.Fatalf("slack route without a secret: %d", w.Code)
	}
}

// sign signs body at ts as Slack does (the documented scheme, checked
// against Slack's own example in TestVerifySlackDocumentedExample).
func sign(secret string, ts int64, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(m, "v0:%d:%s", ts, body)
	return "v0=" + hex.EncodeToString(m.Sum(nil))
}

// TestSlackActions posts block_actions payloads as Slack's interactivity
// sends them (https://api.slack.com/interactivity/handling#payloads: a
// form-encoded body whose payload field is the JSON).
func TestSlackActions(t *testing.T) {
	const secret = "slack-signing-secret"
	e := newEnv(alert.AckConfig{Listen: "127.0.0.1:8081", SlackSigningSecret: secret})
	payload := func(typ, actionID, value string) string {
		p := `{"type":"` + typ + `","user":{"id":"U024BE7LH","username":"anna.schmidt","name":"anna.schmidt","team_id":"T1"},` +
			`"team":{"id":"T1"},"actions":[{"type":"button","action_id":"` + actionID + `","block_id":"salespulse_ack","value":"` + value + `"}]}`
		return url.Values{"payload": {p}}.Encode()
	}
	post := func(body string, ts int64, sig string) *httptest.ResponseRecorder {
		return e.do("POST", "/slack/actions", "", "application/x-www-form-urlencoded", body,
			"X-Slack-Request-Timestamp", strconv.FormatInt(ts, 10), "X-Slack-Signature", sig)
	}
	ok := payload("block_actions", alert.AckActionID+":"+alertA, alert.AckValue(alertA, "lead-7"))
	ts := now.Unix()
	for name, c := range map[string]struct {
		body   string
		ts     int64
		sig    string
		status int
	}{
		"a tampered body":   {strings.Replace(ok, "lead-7", "lead-8", 1), ts, sign(secret, ts, ok), 401},
		"the wrong secret":  {ok, ts, sign("other", ts, ok), 401},
		"a stale timestamp": {ok, ts - 301, sign(secret, ts-301, ok), 401},
		"no signature":      {ok, ts, "", 401},
		"not a form":        {"{", ts, sign(secret, ts, "{"), 400},
		"a bad value":       {payload("block_actions", alert.AckActionID, "lead-7"), ts, sign(secret, ts, payload("block_actions", alert.AckActionID, "lead-7")), 400},
	} {
		if w := post(c.body, c.ts, c.sig); w.Code != c.status {
			t.Errorf("%s: %d %s", name, w.Code, w.Body)
		}
	}
	other := payload("view_submission", alert.AckActionID, alert.AckValue(alertA, "lead-7"))
	if w := post(other, ts, sign(secret, ts, other)); w.Code != http.StatusOK || len(e.prod.recs) != 0 {
		t.Fatalf("another payload type: %d, %d records", w.Code, len(e.prod.recs))
	}
	if w := post(ok, ts-299, sign(secret, ts-299, ok)); w.Code != http.StatusOK {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	_, key, i := decode(t, e.prod.recs[0])
	if key != "lead-7" || i.LeadID != "lead-7" || i.ApprovalID != alertA || i.ApproverID != "slack:U024BE7LH" || i.RepID != "" {
		t.Fatalf("%s %+v", key, i)
	}
	if strings.Contains(e.prod.recs[0], "anna") {
		t.Fatalf("the Slack user's name was stored: %s", e.prod.recs[0])
	}
	for outcome, n := range map[string]float64{"accepted": 1, "unauthorized": 3, "stale": 1, "bad_request": 2, "ignored": 1} {
		if got := testutil.ToFloat64(e.h.reqs.WithLabelValues("slack", outcome)); got != n {
			t.Errorf("slack %s = %v, want %v", outcome, got, n)
		}
	}
}
