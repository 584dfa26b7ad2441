package vendorkit

import (
	"crypto/hmac"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Webhook is how a vendor posts its events to SalesPulse directly
// (internal/ingress serves it on /webhooks/<name>). It lives beside the
// decoder because the two agree on one thing: the record the ingress
// writes is the POST body unchanged, which is what the decoder reads.
// A vendor without a Webhook (Salesforce: its Pub/Sub API is pulled, not
// pushed) gets no route.
type Webhook struct {
	// ContentTypes are the media types an event POST may carry, without
	// parameters ("application/json"); anything else is answered 415.
	ContentTypes []string
	// Accepted is the status of an accepted event; 0 means 200.
	Accepted int
	// Handshake answers a request that checks the endpoint rather than
	// delivering events (Zoom's endpoint.url_validation, Microsoft Graph's
	// validationToken). It is called before the content type is checked
	// (Graph's check is a text/plain POST) and returns nil for an ordinary
	// request. It verifies the request itself where the vendor signs its
	// handshakes; its errors are those of Verify. nil: the vendor has none.
	Handshake func(r *WebhookRequest) (*WebhookReply, error)
	// Verify checks that r comes from the vendor, against each of
	// r.Secrets in turn (rotation). Errors wrap ErrNoSignature,
	// ErrSignature, ErrStale or ErrMalformed: they decide the status and
	// the metric's reason.
	Verify func(r *WebhookRequest) error
	// Key returns the Kafka record key of a verified body (nil: none).
	// Decoders read only the value; the key keeps one object's (or one
	// user's) deliveries in order within the topic, as a relay would.
	Key func(body []byte) []byte
}

// WebhookRequest is one POST as the vendor sent it. Nothing in it may be
// logged: the body and some headers carry personal data.
type WebhookRequest struct {
	Method string
	// URL is the address the vendor posted to, as the vendor saw it:
	// scheme and host of the public URL (a proxy in front changes them),
	// path and raw query as received. HubSpot and Twilio sign it.
	URL    *url.URL
	Header http.Header
	Body   []byte
	// Secrets are the vendor's accepted secrets, current first: two
	// during a rotation.
	Secrets [][]byte
	// Now is the time stale timestamps are judged against.
	Now time.Time
}

// WebhookReply is the 200 answer to a handshake.
type WebhookReply struct {
	ContentType string
	Body        []byte
}

// Reasons a webhook is refused. The ingress answers 401 to the first
// three and 400 to ErrMalformed, and counts each by its reason.
var (
	ErrNoSignature = errors.New("missing signature")
	ErrSignature   = errors.New("signature does not match")
	ErrStale       = errors.New("timestamp outside the tolerance")
	ErrMalformed   = errors.New("malformed request")
)

// Tolerance is how far a signed timestamp may lie from now, either way:
// the 5 minutes HubSpot and Stripe-style schemes use. Older requests are
// replays (or clocks badly off) and refused.
const Tolerance = 5 * time.Minute

// Fresh checks the signed timestamp ts against now within Tolerance.
func Fresh(ts, now time.Time) error {
	if d := now.Sub(ts); d > Tolerance || d < -Tolerance {
		return ErrStale
	}
	return nil
}

// ParseUnix reads a decimal Unix timestamp in seconds (ms false) or
// milliseconds.
func ParseUnix(s string, ms bool) (time.Time, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}, false
	}
	if ms {
		return time.UnixMilli(n), true
	}
	return time.Unix(n, 0), true
}

// AnyMAC reports whether want equals the MAC sign computes under one of
// secrets, comparing in constant time.
func AnyMAC(secrets [][]byte, want []byte, sign func(secret []byte) []byte) bool {
	ok := false
	for _, s := range secrets {
		// No early exit: the time taken does not tell which secret matched.
		if hmac.Equal(sign(s), want) {
			ok = true
		}
	}
	return ok
}
