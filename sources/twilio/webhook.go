package twilio

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // Twilio signs with HMAC-SHA1; we only verify
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"maps"
	"mime"
	"net/url"
	"slices"

	"github.com/segmentio/encoding/json"

	"github.com/salespulse/salespulse/sources/vendorkit"
)

// Webhook verifies X-Twilio-Signature
// (https://www.twilio.com/docs/usage/webhooks/webhooks-security):
// base64(HMAC-SHA1(auth token, full URL + the POST parameters sorted by
// name, each name followed by its value)). A JSON body is not signed
// itself: the URL carries bodySHA256 = hex(SHA-256(body)), which must
// match, and the URL (with it) is signed without parameters. The URL is
// the one Twilio posted to: behind a proxy, ingest.public_url must give
// its scheme and host. Twilio sends no timestamp: a replay keeps the
// CallSid, which the sink deduplicates on. The record key is the
// conversation's call sid (ParentCallSid, else CallSid).
func Webhook() *vendorkit.Webhook {
	return &vendorkit.Webhook{
		ContentTypes: []string{"application/x-www-form-urlencoded", "application/json"},
		Verify:       verify,
		Key:          key,
	}
}

func verify(r *vendorkit.WebhookRequest) error {
	sig := r.Header.Get("X-Twilio-Signature")
	if sig == "" {
		return vendorkit.ErrNoSignature
	}
	want, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return vendorkit.ErrSignature
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var params []byte
	if mt == "application/json" {
		sum, err := hex.DecodeString(r.URL.Query().Get("bodySHA256"))
		if err != nil || len(sum) == 0 {
			return fmt.Errorf("bodySHA256: %w", vendorkit.ErrNoSignature)
		}
		got := sha256.Sum256(r.Body)
		if !hmac.Equal(sum, got[:]) {
			return vendorkit.ErrSignature
		}
	} else {
		form, err := url.ParseQuery(string(r.Body))
		if err != nil {
			return fmt.Errorf("form body: %w", vendorkit.ErrMalformed)
		}
		for _, k := range slices.Sorted(maps.Keys(form)) {
			vs := slices.Clone(form[k])
			slices.Sort(vs)
			for _, v := range vs {
				params = append(append(params, k...), v...)
			}
		}
	}
	for _, u := range urlVariants(r.URL) {
		if vendorkit.AnyMAC(r.Secrets, want, func(s []byte) []byte {
			m := hmac.New(sha1.New, s)
			m.Write([]byte(u))
			m.Write(params)
			return m.Sum(nil)
		}) {
			return nil
		}
	}
	return vendorkit.ErrSignature
}

// urlVariants is the URL with and without its scheme's default port:
// Twilio's own validators try both, because Twilio signs the URL as it was
// configured and a proxy may add or drop ":443".
func urlVariants(u *url.URL) []string {
	s := u.String()
	port := map[string]string{"https": "443", "http": "80"}[u.Scheme]
	v := *u
	switch {
	case u.Port() == "" && port != "":
		v.Host = u.Host + ":" + port
	case u.Port() == port:
		v.Host = u.Hostname()
	default:
		return []string{s}
	}
	return []string{s, v.String()}
}

func key(body []byte) []byte {
	if len(body) > 0 && body[0] == '{' {
		var c struct {
			Sid    json.RawMessage `json:"sid"`
			Parent json.RawMessage `json:"parent_call_sid"`
		}
		if _, err := json.Parse(body, &c, json.ZeroCopy); err != nil {
			return nil
		}
		for _, raw := range [...][]byte{c.Parent, c.Sid} {
			if b, ok := vendorkit.Str(raw); ok && len(b) > 0 {
				return append([]byte(nil), b...)
			}
		}
		return nil
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil
	}
	for _, k := range [...]string{"ParentCallSid", "CallSid"} {
		if v := form.Get(k); v != "" {
			return []byte(v)
		}
	}
	return nil
}
