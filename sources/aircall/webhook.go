package aircall

import (
	"crypto/subtle"
	"fmt"

	"github.com/segmentio/encoding/json"

	"github.com/salespulse/salespulse/sources/vendorkit"
)

// Webhook checks the webhook token Aircall puts in every body
// (https://developer.aircall.io/api-references/#webhooks): the `token`
// field must equal the token Aircall showed when the webhook was created.
// Aircall signs nothing and sends no timestamp: a replayed body cannot be
// told from Aircall's own retry, and both carry the call's id, which the
// sink deduplicates on. The record key is the agent's Aircall user id
// (else the call id), as a relay keys by user.
func Webhook() *vendorkit.Webhook {
	return &vendorkit.Webhook{
		ContentTypes: []string{"application/json"},
		Verify:       verify,
		Key:          key,
	}
}

type envelope struct {
	Token json.RawMessage `json:"token"`
	Data  struct {
		ID   json.RawMessage `json:"id"`
		User struct {
			ID json.RawMessage `json:"id"`
		} `json:"user"`
	} `json:"data"`
}

func verify(r *vendorkit.WebhookRequest) error {
	var e envelope
	if _, err := json.Parse(r.Body, &e, json.ZeroCopy); err != nil {
		return fmt.Errorf("body: %w", vendorkit.ErrMalformed)
	}
	tok, ok := vendorkit.Str(e.Token)
	if !ok || len(tok) == 0 {
		return vendorkit.ErrNoSignature
	}
	match := 0
	for _, s := range r.Secrets {
		match |= subtle.ConstantTimeCompare(tok, s)
	}
	if match != 1 {
		return vendorkit.ErrSignature
	}
	return nil
}

func key(body []byte) []byte {
	var e envelope
	if _, err := json.Parse(body, &e, json.ZeroCopy); err != nil {
		return nil
	}
	for _, raw := range [...][]byte{e.Data.User.ID, e.Data.ID} {
		if b, ok := vendorkit.Scalar(raw); ok && len(b) > 0 {
			return append([]byte(nil), b...)
		}
	}
	return nil
}
