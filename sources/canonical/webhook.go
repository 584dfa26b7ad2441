package canonical

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/segmentio/encoding/json"

	"github.com/salespulse/salespulse/sources/vendorkit"
)

// SignatureHeader carries the canonical webhook's signature
// (docs/ingest.md, "Canonical JSON"):
//
//	X-SalesPulse-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>
//
// t must lie within 5 minutes of the receiver's clock, so a captured
// request cannot be replayed later. A sender rotating its secret may send
// several v1 values; one matching a configured secret is enough.
const SignatureHeader = "X-SalesPulse-Signature"

// Sign returns the SignatureHeader value for body at unix time t under
// secret: for senders written in Go, and the tests.
func Sign(secret, body []byte, t int64) string {
	ts := fmt.Sprint(t)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Webhook verifies SignatureHeader. The record key is the first event's
// lead_id, else account_id, else rep_id: the generator's partition key.
func Webhook() *vendorkit.Webhook {
	return &vendorkit.Webhook{
		ContentTypes: []string{"application/json"},
		Verify:       verify,
		Key:          key,
	}
}

func verify(r *vendorkit.WebhookRequest) error {
	h := r.Header.Get(SignatureHeader)
	if h == "" {
		return vendorkit.ErrNoSignature
	}
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(h, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			if b, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	t, ok := vendorkit.ParseUnix(ts, false)
	if !ok {
		return fmt.Errorf("%s t: %w", SignatureHeader, vendorkit.ErrMalformed)
	}
	if err := vendorkit.Fresh(t, r.Now); err != nil {
		return err
	}
	for _, want := range sigs {
		if vendorkit.AnyMAC(r.Secrets, want, func(s []byte) []byte { return mac(s, ts, r.Body) }) {
			return nil
		}
	}
	return vendorkit.ErrSignature
}

type keyed struct {
	LeadID    json.RawMessage `json:"lead_id"`
	AccountID json.RawMessage `json:"account_id"`
	RepID     json.RawMessage `json:"rep_id"`
}

func key(body []byte) []byte {
	var first keyed
	b := []byte(strings.TrimSpace(string(body)))
	if len(b) > 0 && b[0] == '[' {
		var all []keyed
		if _, err := json.Parse(b, &all, json.ZeroCopy); err != nil || len(all) == 0 {
			return nil
		}
		first = all[0]
	} else if _, err := json.Parse(b, &first, json.ZeroCopy); err != nil {
		return nil
	}
	for _, raw := range [...][]byte{first.LeadID, first.AccountID, first.RepID} {
		if v, ok := vendorkit.Str(raw); ok && len(v) > 0 {
			return append([]byte(nil), v...)
		}
	}
	return nil
}
