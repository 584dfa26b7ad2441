package hubspot

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/salespulse/salespulse/sources/vendorkit"
)

// HubSpot's v3 signature
// (https://developers.hubspot.com/docs/api/webhooks/validating-requests):
// base64(HMAC-SHA256(client secret, method + URI + body + timestamp)),
// where the URI has the escapes of the page's table (%3A, %2F, %3F, %40,
// %21, %24, %27, %28, %29, %2A, %2C, %3B) decoded and no others, and a
// timestamp older than 5 minutes is refused.
func TestVerifyV3(t *testing.T) {
	now := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	body := []byte(`[{"objectId":1246965,"subscriptionType":"contact.creation","eventId":1,"subscriptionId":25,"portalId":33,"occurredAt":1462216307945}]`)
	const sent = "https://hooks.example.com/webhooks/hubspot?portal=a%3Ab%2Fc%20d"
	const signed = "https://hooks.example.com/webhooks/hubspot?portal=a:b/c%20d" // %20 is not in the table
	sign := func(secret string, ts time.Time, b []byte) (string, string) {
		t := strconv.FormatInt(ts.UnixMilli(), 10)
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte("POST" + signed + string(b) + t))
		return base64.StdEncoding.EncodeToString(m.Sum(nil)), t
	}
	u, _ := url.Parse(sent)
	req := func(sig, ts string, b []byte) *vendorkit.WebhookRequest {
		return &vendorkit.WebhookRequest{Method: "POST", URL: u, Body: b, Now: now, Secrets: [][]byte{[]byte("secret"), []byte("previous")},
			Header: http.Header{"X-Hubspot-Signature-V3": {sig}, "X-Hubspot-Request-Timestamp": {ts}}}
	}
	for name, c := range map[string]struct {
		secret string
		at     time.Time
		body   []byte
		want   error
	}{
		"valid is accepted":                     {"secret", now.Add(-time.Minute), body, nil},
		"the previous secret is accepted":       {"previous", now, body, nil},
		"a wrong secret is refused":             {"other", now, body, vendorkit.ErrSignature},
		"a request older than 5 min is refused": {"secret", now.Add(-5*time.Minute - time.Second), body, vendorkit.ErrStale},
		"a request from the future is refused":  {"secret", now.Add(6 * time.Minute), body, vendorkit.ErrStale},
	} {
		sig, ts := sign(c.secret, c.at, c.body)
		if err := verify(req(sig, ts, body)); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
	sig, ts := sign("secret", now, body)
	if err := verify(req(sig, ts, []byte(string(body[:len(body)-2])+`,{}]`))); !errors.Is(err, vendorkit.ErrSignature) {
		t.Errorf("tampered body: got %v", err)
	}
	if got := string(key(body)); got != "1246965" {
		t.Errorf("key = %q", got)
	}
}
