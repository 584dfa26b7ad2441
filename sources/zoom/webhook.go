package zoom

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/segmentio/encoding/json"

	"github.com/salespulse/salespulse/sources/vendorkit"
)

// Webhook verifies Zoom's webhook signature and answers its endpoint
// validation (https://developers.zoom.us/docs/api/webhooks/):
// x-zm-signature is "v0=" + hex(HMAC-SHA256(secret token, "v0:" +
// x-zm-request-timestamp + ":" + body)), the timestamp in seconds and
// refused beyond 5 minutes; endpoint.url_validation is answered
// {"plainToken": p, "encryptedToken": hex(HMAC-SHA256(secret token, p))}.
// The record key is the host's Zoom user id, as a relay keys by user.
func Webhook() *vendorkit.Webhook {
	return &vendorkit.Webhook{
		ContentTypes: []string{"application/json"},
		Handshake:    handshake,
		Verify:       verify,
		Key:          key,
	}
}

func verify(r *vendorkit.WebhookRequest) error {
	sig, ts := r.Header.Get("x-zm-signature"), r.Header.Get("x-zm-request-timestamp")
	if sig == "" || ts == "" {
		return vendorkit.ErrNoSignature
	}
	t, ok := vendorkit.ParseUnix(ts, false)
	if !ok {
		return fmt.Errorf("x-zm-request-timestamp: %w", vendorkit.ErrMalformed)
	}
	if err := vendorkit.Fresh(t, r.Now); err != nil {
		return err
	}
	h, ok := strings.CutPrefix(sig, "v0=")
	want, err := hex.DecodeString(h)
	if !ok || err != nil {
		return vendorkit.ErrSignature
	}
	if !vendorkit.AnyMAC(r.Secrets, want, func(s []byte) []byte {
		m := hmac.New(sha256.New, s)
		m.Write([]byte("v0:" + ts + ":"))
		m.Write(r.Body)
		return m.Sum(nil)
	}) {
		return vendorkit.ErrSignature
	}
	return nil
}

type validation struct {
	Event   string `json:"event"`
	Payload struct {
		PlainToken string `json:"plainToken"`
	} `json:"payload"`
}

// handshake answers endpoint.url_validation after checking its signature
// like any event's. The token is encrypted with the current secret: Zoom
// validates with the secret configured in its app, which is the current
// one once a rotation has started.
func handshake(r *vendorkit.WebhookRequest) (*vendorkit.WebhookReply, error) {
	var v validation
	if json.Unmarshal(r.Body, &v) != nil || v.Event != "endpoint.url_validation" {
		return nil, nil
	}
	if err := verify(r); err != nil {
		return nil, err
	}
	if v.Payload.PlainToken == "" || len(r.Secrets) == 0 {
		return nil, fmt.Errorf("payload.plainToken: %w", vendorkit.ErrMalformed)
	}
	m := hmac.New(sha256.New, r.Secrets[0])
	m.Write([]byte(v.Payload.PlainToken))
	body, err := json.Marshal(map[string]string{
		"plainToken":     v.Payload.PlainToken,
		"encryptedToken": hex.EncodeToString(m.Sum(nil)),
	})
	if err != nil {
		return nil, err
	}
	return &vendorkit.WebhookReply{ContentType: "application/json", Body: body}, nil
}

func key(body []byte) []byte {
	var w struct {
		Payload struct {
			Object struct {
				HostID json.RawMessage `json:"host_id"`
			} `json:"object"`
		} `json:"payload"`
	}
	if _, err := json.Parse(body, &w, json.ZeroCopy); err != nil {
		return nil
	}
	b, ok := vendorkit.Str(w.Payload.Object.HostID)
	if !ok || len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}
