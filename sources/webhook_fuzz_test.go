package sources_test

import (
	"net/http"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/salespulse/salespulse/sources"
	"github.com/salespulse/salespulse/sources/vendorkit"
)

// FuzzWebhooks feeds every vendor's webhook check arbitrary bodies,
// signature headers and queries: none may panic, and none may accept a
// request or answer a signed handshake without the secret (the token and
// clientState checks compare with a secret the fuzzer will not guess).
// Graph's validationToken handshake is unsigned by design. Seeded with the
// vendors' testdata payloads.
//
//	go test ./sources -run '^$' -fuzz FuzzWebhooks -fuzztime 30s
func FuzzWebhooks(f *testing.F) {
	for _, p := range []string{
		"hubspot/testdata/contact_creation_retry_and_owner.json",
		"zoom/testdata/meeting_ended.json",
		"aircall/testdata/call_ended_outbound.json",
		"twilio/testdata/call_resource_fetch_outbound_completed.json",
		"graph/testdata/change_notifications.json",
	} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "v0=00", "1762164000", "application/json", "validationToken=x&bodySHA256=00")
	}
	f.Add([]byte(`{"event":"endpoint.url_validation","payload":{"plainToken":"x"}}`), "t=1762164000,v1=00", "1762164000000", "application/x-www-form-urlencoded", "")
	now := time.Unix(1762164000, 0)
	secret := []byte("a secret no input carries: 8d1f0c2e-1f6b-4d3e-9a55-0c1b2d3e4f50")
	f.Fuzz(func(t *testing.T, body []byte, sig, ts, ct, query string) {
		u, err := url.Parse("https://hooks.example.com/webhooks/x?" + query)
		if err != nil {
			return
		}
		h := http.Header{}
		for _, k := range []string{"X-HubSpot-Signature-v3", "x-zm-signature", "X-Twilio-Signature", "X-SalesPulse-Signature"} {
			h.Set(k, sig)
		}
		for _, k := range []string{"X-HubSpot-Request-Timestamp", "x-zm-request-timestamp"} {
			h.Set(k, ts)
		}
		h.Set("Content-Type", ct)
		for _, v := range sources.Vendors() {
			w := v.Webhook
			if w == nil {
				continue
			}
			r := &vendorkit.WebhookRequest{Method: "POST", URL: u, Header: h, Body: body, Secrets: [][]byte{secret}, Now: now}
			if w.Handshake != nil {
				if reply, err := w.Handshake(r); err == nil && reply != nil && v.Name != "graph" {
					t.Errorf("%s: handshake answered an unsigned request", v.Name)
				}
			}
			if err := w.Verify(r); err == nil {
				t.Errorf("%s: accepted an unsigned request", v.Name)
			}
			if w.Key != nil {
				w.Key(body)
			}
		}
	})
}
