// Package ack serves the acknowledgement endpoint (docs/alerts.md,
// "Acknowledgement"): an API call or a Slack button press becomes one
// alert.acknowledged canonical event on a Kafka topic. The SLA detector
// reads it from the log like any event, so a replay or a restore decides
// exactly as the live run did; this package keeps no state.
//
// It knows neither Kafka nor ClickHouse: the app hands it a Producer and
// a Leads lookup.
package ack

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sinks/alert"
)

// Producer writes one record to topic and returns once Kafka
// acknowledged it (all in-sync replicas) or gave up.
type Producer interface {
	Produce(ctx context.Context, topic string, key, value []byte) error
}

// Leads finds the lead an alert is about: ErrUnknownAlert (wrapped) when
// no alert of a lead has the id.
type Leads interface {
	AlertLead(ctx context.Context, alertID string) (string, error)
}

// ErrUnknownAlert: no alert with the id (a Leads answer).
var ErrUnknownAlert = errors.New("unknown alert")

// Source is the source field of the events the endpoint writes.
const Source = "salespulse"

// Options are what the Handler needs besides its config.
type Options struct {
	Producer Producer
	Leads    Leads
	// IsRep reports whether an acknowledger id is a rep of the org: the
	// event names a rep in rep_id, anyone else in approver_id. Nil: nobody.
	IsRep func(id string) bool
	// Now is the wall clock: an acknowledgement's event time, and the
	// freshness check of Slack's timestamps. Default time.Now.
	Now      func() time.Time
	Registry prometheus.Registerer
	Logger   *slog.Logger
}

// Handler serves POST /api/v1/alerts/{id}/ack and, with a Slack signing
// secret, POST /slack/actions.
type Handler struct {
	cfg   alert.AckConfig
	topic string
	opt   Options
	log   *slog.Logger
	reqs  *prometheus.CounterVec
	mux   *http.ServeMux
}

// Routes and outcomes of salespulse_ack_requests_total.
const (
	routeAPI   = "api"
	routeSlack = "slack"

	outAccepted     = "accepted"      // written to Kafka (202; Slack: 200)
	outUnauthorized = "unauthorized"  // no or wrong bearer token, bad Slack signature (401)
	outStale        = "stale"         // Slack timestamp older than 5 min (401)
	outBadRequest   = "bad_request"   // malformed input (400)
	outUnknownAlert = "unknown_alert" // no such alert (404)
	outUnavailable  = "unavailable"   // Kafka or the alert lookup failed (503)
	outIgnored      = "ignored"       // a Slack payload that is no Acknowledge press (200)
)

// maxBody bounds request bodies: an acknowledgement is a few hundred
// bytes, a Slack block_actions payload a few kilobytes.
const maxBody = 1 << 20

// slackSkew is how old (or how far ahead) a Slack request timestamp may be:
// Slack's guide rejects requests older than five minutes against replays.
const slackSkew = 5 * time.Minute

// New returns the handler writing to topic (a canonical topic).
func New(cfg alert.AckConfig, topic string, opt Options) *Handler {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.IsRep == nil {
		opt.IsRep = func(string) bool { return false }
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{cfg: cfg, topic: topic, opt: opt, log: log.With("component", "ack"),
		reqs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salespulse_ack_requests_total",
			Help: "Acknowledgement requests by route (api, slack) and outcome (accepted, unauthorized, stale, bad_request, unknown_alert, unavailable, ignored).",
		}, []string{"route", "outcome"})}
	if opt.Registry != nil {
		opt.Registry.MustRegister(h.reqs)
	}
	h.mux = http.NewServeMux()
	h.mux.HandleFunc("POST /api/v1/alerts/{id}/ack", h.api)
	if cfg.SlackSigningSecret != "" {
		h.mux.HandleFunc("POST /slack/actions", h.slack)
	}
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// reply answers with status and a one-line JSON body, and counts it.
// Bodies are never logged: they may name people.
func (h *Handler) reply(w http.ResponseWriter, route, outcome string, status int, body map[string]string) {
	h.reqs.WithLabelValues(route, outcome).Inc()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}

func (h *Handler) fail(w http.ResponseWriter, route, outcome string, status int, reason string) {
	h.reply(w, route, outcome, status, map[string]string{"error": reason})
}

// apiBody is the optional JSON body of the API route.
type apiBody struct {
	By     string `json:"by"`
	LeadID string `json:"lead_id"`
}

func (h *Handler) api(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Token != "" {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(tok), []byte(h.cfg.Token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="salespulse"`)
			h.fail(w, routeAPI, outUnauthorized, http.StatusUnauthorized, "a valid bearer token is required")
			return
		}
	}
	id := r.PathValue("id")
	if !alertID(id) {
		h.fail(w, routeAPI, outBadRequest, http.StatusBadRequest, "alert id must be 32 lower-case hex digits")
		return
	}
	var in apiBody
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		h.fail(w, routeAPI, outBadRequest, http.StatusBadRequest, "body too large or unreadable")
		return
	}
	if len(strings.TrimSpace(string(raw))) > 0 {
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			h.fail(w, routeAPI, outBadRequest, http.StatusBadRequest, "body must be a JSON object with optional string fields by and lead_id")
			return
		}
	}
	if in.By == "" {
		in.By = "api"
	}
	if reason := checkID("by", in.By); reason != "" {
		h.fail(w, routeAPI, outBadRequest, http.StatusBadRequest, reason)
		return
	}
	if in.LeadID == "" {
		lead, err := h.opt.Leads.AlertLead(r.Context(), id)
		switch {
		case errors.Is(err, ErrUnknownAlert):
			h.fail(w, routeAPI, outUnknownAlert, http.StatusNotFound, "no lead alert with this id")
			return
		case err != nil:
			h.log.Warn("look up an alert's lead", "err", err)
			h.fail(w, routeAPI, outUnavailable, http.StatusServiceUnavailable, "the alerts table is unavailable; retry")
			return
		}
		in.LeadID = lead
	}
	if reason := checkID("lead_id", in.LeadID); reason != "" {
		h.fail(w, routeAPI, outBadRequest, http.StatusBadRequest, reason)
		return
	}
	ev, err := h.write(r.Context(), id, in.LeadID, in.By)
	if err != nil {
		h.log.Warn("write an acknowledgement", "topic", h.topic, "err", err)
		h.fail(w, routeAPI, outUnavailable, http.StatusServiceUnavailable, "could not write the acknowledgement; retry")
		return
	}
	h.reply(w, routeAPI, outAccepted, http.StatusAccepted, map[string]string{"event_id": ev, "alert_id": id, "lead_id": in.LeadID})
}

// slackPayload is the part of a block_actions payload the endpoint reads
// (https://api.slack.com/interactivity/handling#payloads). The user's
// name is not read: only the Slack user id is stored.
type slackPayload struct {
	Type string `json:"type"`
	User struct {
		ID string `json:"id"`
	} `json:"user"`
	Actions []struct {
		ActionID string `json:"action_id"`
		Value    string `json:"value"`
	} `json:"actions"`
}

func (h *Handler) slack(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		h.fail(w, routeSlack, outBadRequest, http.StatusBadRequest, "body too large or unreadable")
		return
	}
	switch err := VerifySlack(h.cfg.SlackSigningSecret, r.Header, raw, h.opt.Now()); {
	case errors.Is(err, ErrSlackStale):
		h.fail(w, routeSlack, outStale, http.StatusUnauthorized, err.Error())
		return
	case err != nil:
		h.fail(w, routeSlack, outUnauthorized, http.StatusUnauthorized, err.Error())
		return
	}
	form, err := url.ParseQuery(string(raw))
	var p slackPayload
	if err == nil {
		err = json.Unmarshal([]byte(form.Get("payload")), &p)
	}
	if err != nil {
		h.fail(w, routeSlack, outBadRequest, http.StatusBadRequest, "want a form with a JSON payload field")
		return
	}
	if p.Type != "block_actions" || p.User.ID == "" {
		h.reply(w, routeSlack, outIgnored, http.StatusOK, map[string]string{})
		return
	}
	by := "slack:" + p.User.ID
	n := 0
	for _, a := range p.Actions {
		if a.ActionID != alert.AckActionID && !strings.HasPrefix(a.ActionID, alert.AckActionID+":") {
			continue
		}
		id, lead, ok := alert.ParseAckValue(a.Value)
		if !ok || !alertID(id) || checkID("lead_id", lead) != "" || checkID("by", by) != "" {
			h.fail(w, routeSlack, outBadRequest, http.StatusBadRequest, "the button's value is not alert_id:lead_id")
			return
		}
		if _, err := h.write(r.Context(), id, lead, by); err != nil {
			h.log.Warn("write an acknowledgement", "topic", h.topic, "err", err)
			h.fail(w, routeSlack, outUnavailable, http.StatusServiceUnavailable, "could not write the acknowledgement; retry")
			return
		}
		n++
	}
	if n == 0 {
		h.reply(w, routeSlack, outIgnored, http.StatusOK, map[string]string{})
		return
	}
	// Slack wants a 200 within 3 s; the message itself changes once the
	// re-emitted alert (with acknowledged_by) reaches the hooks.
	h.reply(w, routeSlack, outAccepted, http.StatusOK, map[string]string{})
}

// write produces the alert.acknowledged event of alert id on lead by by,
// keyed by the lead as the canonical source's lead events are, and
// returns its event id. The id is a function of (alert, by): a retried
// call or a double click writes the same event id, which the sinks
// deduplicate and the SLA detector counts as repeated.
func (h *Handler) write(ctx context.Context, id, lead, by string) (string, error) {
	i := schemas.Interaction{
		EventID: EventID(id, by), OccurredAt: h.opt.Now().UTC().Truncate(time.Millisecond), Source: Source,
		Type: schemas.TypeAlertAcknowledged, LeadID: lead, ApprovalID: id,
	}
	if h.opt.IsRep(by) {
		i.RepID = by
	} else {
		i.ApproverID = by
	}
	i.Normalize()
	if err := i.Validate(); err != nil {
		return "", err
	}
	if err := h.opt.Producer.Produce(ctx, h.topic, []byte(lead), schemas.AppendJSON(nil, &i)); err != nil {
		return "", err
	}
	return i.EventID, nil
}

// EventID is the event id of alert's acknowledgement by by.
func EventID(alertID, by string) string {
	s := sha256.Sum256([]byte("salespulse/ack/v1\x00" + alertID + "\x00" + by))
	return "ack-" + hex.EncodeToString(s[:16])
}

// alertID reports whether s looks like an alert id (detect.AlertID: 16
// bytes of SHA-256 in lower-case hex).
func alertID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for k := range len(s) {
		if c := s[k]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// checkID returns why v is no acceptable id, "" if it is. An
// acknowledger is an id (a rep id, a Slack user id), never a name or an
// e-mail address: the log keeps it.
func checkID(field, v string) string {
	switch {
	case v == "":
		return field + " is required"
	case len(v) > schemas.MaxIDLen:
		return field + " is longer than " + strconv.Itoa(schemas.MaxIDLen) + " bytes"
	case field == "by" && strings.ContainsAny(v, "@ "):
		return "by must be an id (a rep id, a user id), not a name or an e-mail address"
	}
	return ""
}

// Slack request verification errors.
var (
	ErrSlackSignature = errors.New("X-Slack-Signature does not match the body")
	ErrSlackHeaders   = errors.New("X-Slack-Signature or X-Slack-Request-Timestamp missing or malformed")
	ErrSlackStale     = errors.New("X-Slack-Request-Timestamp is more than 5 minutes from now")
)

// VerifySlack checks a request as Slack's "Verifying requests from
// Slack" says (https://api.slack.com/authentication/verifying-requests-from-slack):
// X-Slack-Signature is "v0=" + hex HMAC-SHA256 of "v0:" + timestamp + ":" +
// the raw body under the signing secret, compared in constant time, and
// X-Slack-Request-Timestamp within 5 minutes of now against replays.
func VerifySlack(secret string, hdr http.Header, body []byte, now time.Time) error {
	ts, sig := hdr.Get("X-Slack-Request-Timestamp"), hdr.Get("X-Slack-Signature")
	sec, err := strconv.ParseInt(ts, 10, 64)
	hexSig, ok := strings.CutPrefix(sig, "v0=")
	if err != nil || !ok {
		return ErrSlackHeaders
	}
	if d := now.Sub(time.Unix(sec, 0)); d > slackSkew || d < -slackSkew {
		return ErrSlackStale
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return ErrSlackHeaders
	}
	m := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(m, "v0:%s:", ts)
	m.Write(body)
	if !hmac.Equal(got, m.Sum(nil)) {
		return ErrSlackSignature
	}
	return nil
}
