package twilio

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // Twilio's scheme
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"testing"

	"github.com/salespulse/salespulse/sources/vendorkit"
)

// Twilio's request validation
// (https://www.twilio.com/docs/usage/webhooks/webhooks-security, and the
// worked example of its helper libraries' docs, "Validate Incoming
// Requests"): auth token 12345, URL
// https://mycompany.com/myapp.php?foo=1&bar=2 and these POST parameters
// sign to RSOYDt4T1cUTdK1PDd93/VVr8B8=.
func TestVerifyDocExample(t *testing.T) {
	form := url.Values{
		"CallSid": {"CA1234567890ABCDE"},
		"Caller":  {"+14158675309"},
		"Digits":  {"1234"},
		"From":    {"+14158675309"},
		"To":      {"+18005551212"},
	}
	u, _ := url.Parse("https://mycompany.com/myapp.php?foo=1&bar=2")
	r := func(secret, sig string, body string) *vendorkit.WebhookRequest {
		h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
		if sig != "" {
			h.Set("X-Twilio-Signature", sig)
		}
		return &vendorkit.WebhookRequest{Method: "POST", URL: u, Header: h, Body: []byte(body), Secrets: [][]byte{[]byte(secret)}}
	}
	const docSig = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
	if err := verify(r("12345", docSig, form.Encode())); err != nil {
		t.Fatalf("doc example: %v", err)
	}
	tampered := url.Values{}
	for k, v := range form {
		tampered[k] = v
	}
	tampered.Set("Digits", "9999")
	for name, c := range map[string]struct {
		req  *vendorkit.WebhookRequest
		want error
	}{
		"a tampered parameter is refused": {r("12345", docSig, tampered.Encode()), vendorkit.ErrSignature},
		"a wrong auth token is refused":   {r("54321", docSig, form.Encode()), vendorkit.ErrSignature},
		"no signature is refused":         {r("12345", "", form.Encode()), vendorkit.ErrNoSignature},
	} {
		if err := verify(c.req); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
}

// JSON bodies: the URL carries bodySHA256, the hex SHA-256 of the body,
// and the URL alone (with it) is signed (same page, "Validating requests
// with a JSON body").
func TestVerifyJSONBody(t *testing.T) {
	body := []byte(`{"sid":"CA0001","status":"completed"}`)
	sum := sha256.Sum256(body)
	raw := "https://hooks.example.com/webhooks/twilio?bodySHA256=" + hex.EncodeToString(sum[:])
	m := hmac.New(sha1.New, []byte("token"))
	m.Write([]byte(raw))
	sig := base64.StdEncoding.EncodeToString(m.Sum(nil))
	u, _ := url.Parse(raw)
	req := func(b []byte) *vendorkit.WebhookRequest {
		return &vendorkit.WebhookRequest{Method: "POST", URL: u, Body: b, Secrets: [][]byte{[]byte("old"), []byte("token")},
			Header: http.Header{"Content-Type": {"application/json"}, "X-Twilio-Signature": {sig}}}
	}
	if err := verify(req(body)); err != nil {
		t.Fatalf("valid JSON body (second secret): %v", err)
	}
	if err := verify(req([]byte(`{"sid":"CA0001","status":"busy"}`))); !errors.Is(err, vendorkit.ErrSignature) {
		t.Errorf("tampered JSON body: got %v", err)
	}
	// Twilio's validators accept the URL with or without the default port.
	u2, _ := url.Parse("https://hooks.example.com:443/webhooks/twilio?bodySHA256=" + hex.EncodeToString(sum[:]))
	r := req(body)
	r.URL = u2
	if err := verify(r); err != nil {
		t.Errorf("with :443: %v", err)
	}
	if got := string(key(body)); got != "CA0001" {
		t.Errorf("key = %q", got)
	}
	if got := string(key([]byte("CallSid=CA2&ParentCallSid=CA1"))); got != "CA1" {
		t.Errorf("form key = %q, want the parent's", got)
	}
}
