package ingress_test

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // Twilio's scheme
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A case posts one request and says what must come of it: the status, the
// metric reason, and for accepted ones the record (the body unchanged,
// keyed as the vendor's Webhook.Key says, no headers).
type tcase struct {
	name        string
	target      string // path and query
	contentType string
	body        []byte
	headers     []string
	code        int
	reason      string // salespulse_ingest_requests_total's reason
	key         string // of the record, for accepted cases
	reply       string // the handshake's answer body, when one is expected
}

// run posts each case in order and checks its answer, then checks that the
// accepted ones, and only they, are in topic exactly as sent, and the
// requests metric.
func run(t *testing.T, h *harness, vendor, topic string, cases []tcase) {
	t.Helper()
	var accepted []tcase
	counts := map[string]int{}
	for _, c := range cases {
		r := h.post(c.target, c.contentType, c.body, c.headers...)
		if r.code != c.code {
			t.Errorf("%s: status %d (%q), want %d", c.name, r.code, r.body, c.code)
		}
		if c.reply != "" && r.body != c.reply {
			t.Errorf("%s: answered %q, want %q", c.name, r.body, c.reply)
		}
		if r.code >= 200 && r.code < 300 && c.reply == "" {
			accepted = append(accepted, c)
		}
		counts[c.reason]++
	}
	recs := h.records(len(accepted))
	for k, rec := range recs {
		c := accepted[k]
		if rec.Topic != topic || string(rec.Value) != string(c.body) || string(rec.Key) != c.key || len(rec.Headers) != 0 {
			t.Errorf("%s: record %s key %q headers %v value %q; want %s key %q, the body as sent, no headers", c.name, rec.Topic, rec.Key, rec.Headers, rec.Value, topic, c.key)
		}
	}
	for reason, n := range counts {
		if got := requests(t, h, vendor, reason); got != float64(n) {
			t.Errorf("requests_total{vendor=%s,reason=%s} = %v, want %d", vendor, reason, got, n)
		}
	}
}

func requests(t *testing.T, h *harness, vendor, reason string) float64 {
	t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != "salespulse_ingest_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if l["vendor"] == vendor && l["reason"] == reason {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func fixture(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func tamper(b []byte) []byte {
	s := string(b)
	i := strings.LastIndexAny(s, "0123456789")
	d := (s[i]-'0'+1)%10 + '0'
	return []byte(s[:i] + string(rune(d)) + s[i+1:])
}

// HubSpot v3 (https://developers.hubspot.com/docs/api/webhooks/validating-requests):
// X-HubSpot-Signature-v3 = base64(HMAC-SHA256(client secret, method + URI
// + body + X-HubSpot-Request-Timestamp)), the timestamp in ms, refused
// when older than 5 minutes. The URI is the public one the app registered.
func TestHubSpot(t *testing.T) {
	h := newHarness(t, nil)
	body := fixture(t, "../../sources/hubspot/testdata/contact_creation_retry_and_owner.json")
	sign := func(secret string, at time.Time, b []byte) []string {
		ts := strconv.FormatInt(at.UnixMilli(), 10)
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte("POST" + public + "/webhooks/hubspot" + string(b) + ts))
		return []string{"X-HubSpot-Signature-v3", base64.StdEncoding.EncodeToString(m.Sum(nil)), "X-HubSpot-Request-Timestamp", ts}
	}
	cur, old := secrets["hubspot"][0], secrets["hubspot"][1]
	key := firstObjectID(t, body)
	const p, js = "/webhooks/hubspot", "application/json"
	run(t, h, "hubspot", "sales.hubspot", []tcase{
		{name: "valid", target: p, contentType: js, body: body, headers: sign(cur, now.Add(-time.Minute), body), code: 200, reason: "ok", key: key},
		{name: "previous secret (rotation)", target: p, contentType: js, body: body, headers: sign(old, now, body), code: 200, reason: "ok", key: key},
		{name: "tampered body", target: p, contentType: js, body: tamper(body), headers: sign(cur, now, body), code: 401, reason: "bad_signature"},
		{name: "wrong secret", target: p, contentType: js, body: body, headers: sign("not-the-secret", now, body), code: 401, reason: "bad_signature"},
		{name: "replayed 6 min later", target: p, contentType: js, body: body, headers: sign(cur, now.Add(-6*time.Minute), body), code: 401, reason: "stale"},
		{name: "no signature", target: p, contentType: js, body: body, code: 401, reason: "no_signature"},
		{name: "form body", target: p, contentType: "application/x-www-form-urlencoded", body: body, headers: sign(cur, now, body), code: 415, reason: "content_type"},
	})
}

func firstObjectID(t *testing.T, body []byte) string {
	var evs []struct {
		ObjectID json.Number `json:"objectId"`
	}
	if err := json.Unmarshal(body, &evs); err != nil {
		t.Fatal(err)
	}
	return evs[0].ObjectID.String()
}

// Zoom (https://developers.zoom.us/docs/api/webhooks/): x-zm-signature =
// "v0=" + hex(HMAC-SHA256(secret token, "v0:" + x-zm-request-timestamp +
// ":" + body)); endpoint.url_validation is answered with plainToken and
// encryptedToken = hex(HMAC-SHA256(secret token, plainToken)).
func TestZoom(t *testing.T) {
	h := newHarness(t, nil)
	body := fixture(t, "/work/shared/fixtures/zoom/meeting_ended.json")
	sign := func(secret string, at time.Time, b []byte) []string {
		ts := strconv.FormatInt(at.Unix(), 10)
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte("v0:" + ts + ":" + string(b)))
		return []string{"x-zm-signature", "v0=" + hex.EncodeToString(m.Sum(nil)), "x-zm-request-timestamp", ts}
	}
	cur, old := secrets["zoom"][0], secrets["zoom"][1]
	// The validation request of Zoom's page.
	validation := []byte(`{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}`)
	m := hmac.New(sha256.New, []byte(cur))
	m.Write([]byte("qgg8vlvZRS6UYooatFL8Aw"))
	reply := `{"encryptedToken":"` + hex.EncodeToString(m.Sum(nil)) + `","plainToken":"qgg8vlvZRS6UYooatFL8Aw"}`
	const p, js = "/webhooks/zoom", "application/json"
	run(t, h, "zoom", "sales.zoom", []tcase{
		{name: "url validation", target: p, contentType: js, body: validation, headers: sign(cur, now, validation), code: 200, reason: "ok", reply: reply},
		{name: "url validation, wrong secret", target: p, contentType: js, body: validation, headers: sign("x", now, validation), code: 401, reason: "bad_signature"},
		{name: "valid", target: p, contentType: js, body: body, headers: sign(cur, now, body), code: 200, reason: "ok", key: "uLoRgfbbTayCX6r2Q_qQsQ"},
		{name: "previous secret (rotation)", target: p, contentType: js, body: body, headers: sign(old, now.Add(4*time.Minute), body), code: 200, reason: "ok", key: "uLoRgfbbTayCX6r2Q_qQsQ"},
		{name: "tampered body", target: p, contentType: js, body: tamper(body), headers: sign(cur, now, body), code: 401, reason: "bad_signature"},
		{name: "wrong secret", target: p, contentType: js, body: body, headers: sign("x", now, body), code: 401, reason: "bad_signature"},
		{name: "replayed 6 min later", target: p, contentType: js, body: body, headers: sign(cur, now.Add(-6*time.Minute), body), code: 401, reason: "stale"},
		{name: "no signature", target: p, contentType: js, body: body, code: 401, reason: "no_signature"},
	})
	if got := requests(t, h, "zoom", "ok"); got != 3 {
		t.Errorf("ok requests = %v, want 3 (one handshake, two accepted)", got)
	}
}

// Aircall (https://developer.aircall.io/api-references/#webhooks): the
// body's token must be the webhook's token. Aircall signs nothing: a
// tampered body with the right token cannot be detected, and a replay is
// Aircall's own retry to the receiver (the sink dedups on the call id).
func TestAircall(t *testing.T) {
	h := newHarness(t, nil)
	body := fixture(t, "/work/shared/fixtures/aircall/call_created_doc_sample.json") // token df76g76dpziygs567f0
	withToken := func(tok string) []byte {
		return []byte(strings.Replace(string(body), `"df76g76dpziygs567f0"`, strconv.Quote(tok), 1))
	}
	const p, js = "/webhooks/aircall", "application/json"
	run(t, h, "aircall", "sales.aircall", []tcase{
		{name: "valid (the doc sample's token)", target: p, contentType: js, body: body, code: 200, reason: "ok", key: "123"}, // no data.user: the call id
		{name: "previous token (rotation)", target: p, contentType: js, body: withToken(secrets["aircall"][1]), code: 200, reason: "ok", key: "123"},
		{name: "wrong token", target: p, contentType: js, body: withToken("nope"), code: 401, reason: "bad_signature"},
		{name: "no token", target: p, contentType: js, body: []byte(`{"event":"call.ended","data":{"id":1}}`), code: 401, reason: "no_signature"},
		{name: "not JSON", target: p, contentType: js, body: []byte(`token=df76g76dpziygs567f0`), code: 400, reason: "malformed"},
	})
}

// Twilio (https://www.twilio.com/docs/usage/webhooks/webhooks-security):
// X-Twilio-Signature = base64(HMAC-SHA1(auth token, full URL + the POST
// parameters sorted by name, name then value)); a JSON body is signed
// through bodySHA256 = hex(SHA-256(body)) in the URL, the URL signed
// alone. sources/twilio tests the page's worked example.
func TestTwilio(t *testing.T) {
	h := newHarness(t, nil)
	form := url.Values{"CallSid": {"CA42"}, "CallStatus": {"completed"}, "Direction": {"inbound"}, "From": {"+14158675309"}, "To": {"+18005551212"}, "CallDuration": {"61"}}
	body := []byte(form.Encode())
	sign := func(secret, fullURL string, params url.Values) []string {
		s := fullURL
		keys := make([]string, 0, len(params))
		for k := range params {
			keys = append(keys, k)
		}
		sortStrings(keys)
		for _, k := range keys {
			s += k + params.Get(k)
		}
		m := hmac.New(sha1.New, []byte(secret))
		m.Write([]byte(s))
		return []string{"X-Twilio-Signature", base64.StdEncoding.EncodeToString(m.Sum(nil))}
	}
	jsonBody := fixture(t, "/work/shared/fixtures/twilio/call_resource_fetch_outbound_completed.json")
	sum := sha256.Sum256(jsonBody)
	jsonTarget := "/webhooks/twilio?bodySHA256=" + hex.EncodeToString(sum[:])
	var res struct {
		Parent string `json:"parent_call_sid"` // the conversation's sid
	}
	json.Unmarshal(jsonBody, &res)
	cur, old := secrets["twilio"][0], secrets["twilio"][1]
	tampered := url.Values{}
	for k, v := range form {
		tampered[k] = v
	}
	tampered.Set("CallDuration", "6100")
	const p, fm, js = "/webhooks/twilio", "application/x-www-form-urlencoded", "application/json"
	run(t, h, "twilio", "sales.twilio", []tcase{
		{name: "valid callback", target: p, contentType: fm, body: body, headers: sign(cur, public+p, form), code: 200, reason: "ok", key: "CA42"},
		{name: "previous token (rotation)", target: p, contentType: fm, body: body, headers: sign(old, public+p, form), code: 200, reason: "ok", key: "CA42"},
		{name: "tampered parameter", target: p, contentType: fm, body: []byte(tampered.Encode()), headers: sign(cur, public+p, form), code: 401, reason: "bad_signature"},
		{name: "wrong token", target: p, contentType: fm, body: body, headers: sign("x", public+p, form), code: 401, reason: "bad_signature"},
		{name: "signed for another URL (a proxy's)", target: p, contentType: fm, body: body, headers: sign(cur, "http://10.0.0.7:8443"+p, form), code: 401, reason: "bad_signature"},
		{name: "valid JSON body", target: jsonTarget, contentType: js, body: jsonBody, headers: sign(cur, public+jsonTarget, nil), code: 200, reason: "ok", key: res.Parent},
		{name: "tampered JSON body", target: jsonTarget, contentType: js, body: tamper(jsonBody), headers: sign(cur, public+jsonTarget, nil), code: 401, reason: "bad_signature"},
		{name: "JSON without bodySHA256", target: p, contentType: js, body: jsonBody, headers: sign(cur, public+p, nil), code: 401, reason: "no_signature"},
	})
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// Microsoft Graph (https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks):
// the validation request is a POST with validationToken in the query,
// answered 200 text/plain with the decoded token; each notification's
// clientState must be the subscription's; deliveries are answered 202.
func TestGraph(t *testing.T) {
	h := newHarness(t, nil)
	body := fixture(t, "../../sources/graph/testdata/change_notifications.json") // clientState secretClientValue
	withState := func(s string) []byte {
		return []byte(strings.ReplaceAll(string(body), `"secretClientValue"`, strconv.Quote(s)))
	}
	var d struct {
		Value []struct {
			SubscriptionID string `json:"subscriptionId"`
		} `json:"value"`
	}
	json.Unmarshal(body, &d)
	sub := d.Value[0].SubscriptionID
	const p, js = "/webhooks/graph", "application/json"
	run(t, h, "graph", "sales.graph", []tcase{
		{name: "validation", target: p + "?validationToken=Validation%3A+Testing+client+application", contentType: "text/plain", code: 200, reason: "ok", reply: "Validation: Testing client application"},
		{name: "valid", target: p, contentType: js, body: body, code: 202, reason: "ok", key: sub},
		{name: "previous clientState (rotation)", target: p, contentType: js, body: withState(secrets["graph"][1]), code: 202, reason: "ok", key: sub},
		{name: "wrong clientState", target: p, contentType: js, body: withState("guess"), code: 401, reason: "bad_signature"},
		{name: "no clientState", target: p, contentType: js, body: []byte(`{"value":[{"subscriptionId":"s","resource":"r"}]}`), code: 401, reason: "no_signature"},
	})
	r := h.post(p+"?validationToken=%3Cscript%3E", "text/plain", nil)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") || r.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("validation answer: Content-Type %q, nosniff %q", ct, r.header.Get("X-Content-Type-Options"))
	}
}

// Canonical JSON (docs/ingest.md): X-SalesPulse-Signature: t=<unix
// seconds>,v1=<hex(HMAC-SHA256(secret, t + "." + body))>, 5 minutes'
// tolerance.
func TestCanonical(t *testing.T) {
	h := newHarness(t, nil)
	body := []byte(`{"event_id":"ing-1","occurred_at":"2026-11-03T09:59:00Z","source":"crm","type":"lead.created","lead_id":"L-1","rep_id":"rep-1"}`)
	sign := func(secret string, at time.Time, b []byte) []string {
		ts := strconv.FormatInt(at.Unix(), 10)
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(ts + "." + string(b)))
		return []string{"X-SalesPulse-Signature", "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))}
	}
	cur, old := secrets["canonical"][0], secrets["canonical"][1]
	const p, js = "/webhooks/canonical", "application/json"
	both := sign(cur, now, body)
	both[1] += "," + strings.Split(sign(old, now, body)[1], ",")[1]
	run(t, h, "canonical", "sales.canonical", []tcase{
		{name: "valid", target: p, contentType: js, body: body, headers: sign(cur, now, body), code: 200, reason: "ok", key: "L-1"},
		{name: "previous secret (rotation)", target: p, contentType: js, body: body, headers: sign(old, now, body), code: 200, reason: "ok", key: "L-1"},
		{name: "two v1 values", target: p, contentType: js, body: body, headers: both, code: 200, reason: "ok", key: "L-1"},
		{name: "tampered body", target: p, contentType: js, body: tamper(body), headers: sign(cur, now, body), code: 401, reason: "bad_signature"},
		{name: "wrong secret", target: p, contentType: js, body: body, headers: sign("x", now, body), code: 401, reason: "bad_signature"},
		{name: "replayed 6 min later", target: p, contentType: js, body: body, headers: sign(cur, now.Add(-6*time.Minute), body), code: 401, reason: "stale"},
		{name: "no signature", target: p, contentType: js, body: body, code: 401, reason: "no_signature"},
	})
}

var _ = http.StatusOK
