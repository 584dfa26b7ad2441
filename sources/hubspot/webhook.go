package hubspot

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/segmentio/encoding/json"

	"github.com/salespulse/salespulse/sources/vendorkit"
)

// Webhook verifies HubSpot's v3 request signature
// (https://developers.hubspot.com/docs/api/webhooks/validating-requests):
// X-HubSpot-Signature-v3 is base64(HMAC-SHA256(client secret, method + URI +
// body + X-HubSpot-Request-Timestamp)), the timestamp in milliseconds and
// refused when older than 5 minutes. The record key is the first event's
// objectId: HubSpot batches up to 100 events per POST, usually about one
// object.
func Webhook() *vendorkit.Webhook {
	return &vendorkit.Webhook{
		ContentTypes: []string{"application/json"},
		Verify:       verify,
		Key:          key,
	}
}

func verify(r *vendorkit.WebhookRequest) error {
	sig, ts := r.Header.Get("X-HubSpot-Signature-v3"), r.Header.Get("X-HubSpot-Request-Timestamp")
	if sig == "" || ts == "" {
		return vendorkit.ErrNoSignature
	}
	t, ok := vendorkit.ParseUnix(ts, true)
	if !ok {
		return fmt.Errorf("X-HubSpot-Request-Timestamp: %w", vendorkit.ErrMalformed)
	}
	if err := vendorkit.Fresh(t, r.Now); err != nil {
		return err
	}
	want, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return vendorkit.ErrSignature
	}
	msg := make([]byte, 0, len(r.Method)+256+len(r.Body)+len(ts))
	msg = append(msg, r.Method...)
	msg = append(msg, signedURI(r.URL.String())...)
	msg = append(msg, r.Body...)
	msg = append(msg, ts...)
	if !vendorkit.AnyMAC(r.Secrets, want, func(s []byte) []byte {
		m := hmac.New(sha256.New, s)
		m.Write(msg)
		return m.Sum(nil)
	}) {
		return vendorkit.ErrSignature
	}
	return nil
}

// uriDecode is the table of HubSpot's v3 instructions: these escapes are
// decoded in the URI before signing, every other one is kept.
var uriDecode = strings.NewReplacer(
	"%3A", ":", "%2F", "/", "%3F", "?", "%40", "@", "%21", "!", "%24", "$",
	"%27", "'", "%28", "(", "%29", ")", "%2A", "*", "%2C", ",", "%3B", ";",
	"%3a", ":", "%2f", "/", "%3f", "?", "%2a", "*", "%2c", ",", "%3b", ";",
)

func signedURI(u string) string { return uriDecode.Replace(u) }

func key(body []byte) []byte {
	var evs []struct {
		ObjectID json.RawMessage `json:"objectId"`
	}
	if _, err := json.Parse(body, &evs, json.ZeroCopy); err != nil || len(evs) == 0 {
		return nil
	}
	d, ok := vendorkit.Digits(evs[0].ObjectID)
	if !ok {
		return nil
	}
	return append([]byte(nil), d...)
}
