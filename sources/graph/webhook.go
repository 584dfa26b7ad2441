package graph

import (
	"crypto/subtle"
	"fmt"
	"net/http"

	"github.com/segmentio/encoding/json"

	"github.com/salespulse/salespulse/sources/vendorkit"
)

// Webhook answers Microsoft Graph's subscription validation and checks
// clientState (https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks):
// a POST with a validationToken query parameter is answered 200 text/plain
// with the token, decoded, within Graph's 10 seconds; every notification
// of a delivery must carry a clientState equal to a configured secret (the
// value given when the subscription was created). Graph signs nothing and
// sends no timestamp: a replayed notification names the same resource,
// and the message a connector fetches for it dedups on its
// internetMessageId. Accepted deliveries are answered 202, as Graph
// documents. The record key is the subscription id.
func Webhook() *vendorkit.Webhook {
	return &vendorkit.Webhook{
		ContentTypes: []string{"application/json"},
		Accepted:     http.StatusAccepted,
		Handshake:    handshake,
		Verify:       verify,
		Key:          key,
	}
}

func handshake(r *vendorkit.WebhookRequest) (*vendorkit.WebhookReply, error) {
	q := r.URL.Query()
	if !q.Has("validationToken") {
		return nil, nil
	}
	// Query() has decoded it, as Graph asks. text/plain with nosniff (set
	// by the ingress) keeps a crafted token from running as a page.
	return &vendorkit.WebhookReply{ContentType: "text/plain; charset=utf-8", Body: []byte(q.Get("validationToken"))}, nil
}

type delivery struct {
	Value []struct {
		SubscriptionID json.RawMessage `json:"subscriptionId"`
		ClientState    json.RawMessage `json:"clientState"`
	} `json:"value"`
}

func verify(r *vendorkit.WebhookRequest) error {
	var d delivery
	if _, err := json.Parse(r.Body, &d, json.ZeroCopy); err != nil || len(d.Value) == 0 {
		return fmt.Errorf("value: %w", vendorkit.ErrMalformed)
	}
	for k, n := range d.Value {
		cs, ok := vendorkit.Str(n.ClientState)
		if !ok || len(cs) == 0 {
			return fmt.Errorf("value[%d].clientState: %w", k, vendorkit.ErrNoSignature)
		}
		match := 0
		for _, s := range r.Secrets {
			match |= subtle.ConstantTimeCompare(cs, s)
		}
		if match != 1 {
			return fmt.Errorf("value[%d].clientState: %w", k, vendorkit.ErrSignature)
		}
	}
	return nil
}

func key(body []byte) []byte {
	var d delivery
	if _, err := json.Parse(body, &d, json.ZeroCopy); err != nil || len(d.Value) == 0 {
		return nil
	}
	b, ok := vendorkit.Str(d.Value[0].SubscriptionID)
	if !ok || len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}
