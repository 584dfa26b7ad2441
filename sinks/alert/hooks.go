package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/salespulse/salespulse/schemas"
)

// hook turns a message, or a digest of a group, into one HTTP request.
type hook interface {
	request(ctx context.Context, m *Message, now time.Time) (*http.Request, error)
	digest(ctx context.Context, d *Digest, now time.Time) (*http.Request, error)
}

// permanentError marks a delivery the receiver rejected for good (4xx other
// than 408/429): retrying the same bytes cannot succeed.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// retryable is the one place that decides whether an attempt may succeed
// when repeated: network errors, timeouts, 408, 429 and 5xx may.
func retryable(err error) bool {
	var p permanentError
	return !errors.As(err, &p)
}

// send performs one attempt: a digest if d is set, else m.
func send(ctx context.Context, c *http.Client, h hook, m *Message, d *Digest, now time.Time) error {
	var req *http.Request
	var err error
	if d != nil {
		req, err = h.digest(ctx, d, now)
	} else {
		req, err = h.request(ctx, m, now)
	}
	if err != nil {
		return permanentError{fmt.Errorf("build request: %w", err)}
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return fmt.Errorf("post: status %d: %s", resp.StatusCode, bytes.TrimSpace(body))
	}
	return permanentError{fmt.Errorf("post: status %d: %s", resp.StatusCode, bytes.TrimSpace(body))}
}

func jsonRequest(ctx context.Context, url string, v any) (*http.Request, []byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "salespulse-alerts/1")
	return req, body, nil
}

// webhook posts the Message as JSON, signed (see Sign, Verify).
type webhook struct {
	url    string
	secret []byte
}

func (w webhook) request(ctx context.Context, m *Message, now time.Time) (*http.Request, error) {
	req, body, err := jsonRequest(ctx, w.url, m)
	if err != nil {
		return nil, err
	}
	req.Header.Set(SignatureHeader, Sign(w.secret, body, now))
	req.Header.Set("X-SalesPulse-Alert-Id", m.ID)
	key := m.ID + ":" + m.State
	if m.Recipient != nil {
		key += ":" + m.Recipient.String()
	}
	req.Header.Set("Idempotency-Key", key)
	return req, nil
}

// digest posts the Digest as JSON, signed. Its Idempotency-Key is the
// group and the flush time: a retry of one notification repeats it, a
// later flush (update, repeat) does not.
func (w webhook) digest(ctx context.Context, d *Digest, now time.Time) (*http.Request, error) {
	req, body, err := jsonRequest(ctx, w.url, d)
	if err != nil {
		return nil, err
	}
	req.Header.Set(SignatureHeader, Sign(w.secret, body, now))
	req.Header.Set("Idempotency-Key", d.GroupKey+":"+strconv.FormatInt(d.At.UnixMilli(), 10))
	return req, nil
}

// slack posts a Block Kit message to an incoming webhook. With ack (the
// acknowledgement endpoint is configured), firing SLA breaches get an
// Acknowledge button (ack.go).
type slack struct {
	url string
	ack bool
}

var stateEmoji = map[string]string{"firing": ":rotating_light:", "resolved": ":white_check_mark:", "pending": ":hourglass:"}

func (s slack) request(ctx context.Context, m *Message, _ time.Time) (*http.Request, error) {
	title := strings.ToUpper(m.State) + " · " + m.Severity + " · " + m.Rule
	fields := []map[string]any{}
	for _, kv := range [][2]string{{"Rep", m.RepID}, {"Team", m.TeamID}, {"Manager", m.ManagerID}, {"Event time", m.At.Format(time.RFC3339)}} {
		if kv[1] != "" {
			fields = append(fields, map[string]any{"type": "mrkdwn", "text": "*" + kv[0] + "*\n" + kv[1]})
		}
	}
	keys := make([]string, 0, len(m.Values))
	for k := range m.Values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var ev strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&ev, "%s=%s  ", k, m.Values[k])
	}
	blocks := []map[string]any{
		{"type": "header", "text": map[string]any{"type": "plain_text", "text": truncate(stateEmoji[m.State]+" "+title, 150), "emoji": true}},
		{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": truncate(m.Summary, 3000)}, "fields": fields},
		{"type": "context", "elements": []map[string]any{
			{"type": "mrkdwn", "text": truncate("alert `"+m.ID+"` · "+ev.String(), 3000)},
		}},
	}
	if s.ack && ackable(m) {
		blocks = append(blocks, map[string]any{"type": "actions", "block_id": AckActionID,
			"elements": []map[string]any{ackButton(m, "Acknowledge")}})
	}
	msg := map[string]any{
		"text":   title + ": " + m.Summary, // notification fallback
		"blocks": blocks,
	}
	req, _, err := jsonRequest(ctx, s.url, msg)
	return req, err
}

// digestLines is how many alerts a Slack digest lists.
const digestLines = 20

func (s slack) digest(ctx context.Context, d *Digest, _ time.Time) (*http.Request, error) {
	var b strings.Builder
	line := func(m *Message) {
		fmt.Fprintf(&b, "%s *%s* %s", stateEmoji[m.State], m.Rule, m.Summary)
		if m.RepID != "" {
			fmt.Fprintf(&b, " · rep %s", m.RepID)
		}
		b.WriteString("\n")
	}
	n := 0
	var buttons []map[string]any // one per listed breach: fewer than Slack's 25 per block
	for _, l := range [][]Message{d.Firing, d.Resolved} {
		for k := range l {
			if n < digestLines {
				line(&l[k])
				if s.ack && ackable(&l[k]) {
					buttons = append(buttons, ackButton(&l[k], "Acknowledge "+l[k].Values["lead_id"]))
				}
			}
			n++
		}
	}
	if n > digestLines {
		fmt.Fprintf(&b, "…and %d more\n", n-digestLines)
	}
	head := d.Title
	if d.Reason == reasonRepeat {
		head += " (reminder)"
	}
	emoji := stateEmoji["firing"]
	if len(d.Firing) == 0 {
		emoji = stateEmoji["resolved"]
	}
	blocks := []map[string]any{
		{"type": "header", "text": map[string]any{"type": "plain_text", "text": truncate(emoji+" "+head, 150), "emoji": true}},
		{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": truncate(b.String(), 3000)}},
		{"type": "context", "elements": []map[string]any{
			{"type": "mrkdwn", "text": truncate("group `"+d.GroupKey+"`", 3000)},
		}},
	}
	if len(buttons) > 0 {
		blocks = append(blocks, map[string]any{"type": "actions", "block_id": AckActionID, "elements": buttons})
	}
	msg := map[string]any{"text": head, "blocks": blocks}
	req, _, err := jsonRequest(ctx, s.url, msg)
	return req, err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

// pagerDuty sends Events API v2 trigger/resolve events with dedup_key = id.
type pagerDuty struct {
	url, routingKey string
}

func (p pagerDuty) request(ctx context.Context, m *Message, _ time.Time) (*http.Request, error) {
	ev := map[string]any{"routing_key": p.routingKey, "dedup_key": m.ID}
	if m.Resolved() {
		ev["event_action"] = "resolve"
	} else {
		ev["event_action"] = "trigger"
		sev := m.Severity
		if sev != "critical" && sev != "warning" {
			sev = "info"
		}
		details := map[string]any{"rule": m.Rule, "rep_id": m.RepID, "team_id": m.TeamID, "manager_id": m.ManagerID, "event_ids": m.EventIDs}
		for k, v := range m.Values {
			details[k] = v
		}
		ev["payload"] = map[string]any{
			"summary": truncate(m.Summary, 1024), "source": "salespulse", "severity": sev,
			"timestamp": m.At.Format(time.RFC3339Nano), "component": m.Rule, "group": m.TeamID, "class": m.Rule,
			"custom_details": details,
		}
	}
	req, _, err := jsonRequest(ctx, p.url, ev)
	return req, err
}

// digest is one PagerDuty incident per group, as Alertmanager's PagerDuty
// integration does (dedup_key = hash of the group key): triggered (and
// updated) while the group has firing alerts, resolved when none is left.
func (p pagerDuty) digest(ctx context.Context, d *Digest, _ time.Time) (*http.Request, error) {
	ev := map[string]any{"routing_key": p.routingKey, "dedup_key": d.GroupKey}
	if len(d.Firing) == 0 {
		ev["event_action"] = "resolve"
	} else {
		ev["event_action"] = "trigger"
		sev := schemas.SeverityInfo
		alerts := make([]map[string]any, 0, len(d.Firing))
		for _, m := range d.Firing {
			sev = max(sev, m.Sev())
			alerts = append(alerts, map[string]any{"id": m.ID, "rule": m.Rule, "summary": m.Summary, "rep_id": m.RepID, "at": m.At})
		}
		details := map[string]any{"group": d.GroupLabels, "firing": alerts, "resolved": len(d.Resolved)}
		if d.Recipient != nil {
			details["recipient"] = d.Recipient.String()
		}
		ev["payload"] = map[string]any{
			"summary": truncate(d.Title, 1024), "source": "salespulse", "severity": sev.String(),
			"timestamp": d.At.Format(time.RFC3339Nano), "group": d.GroupLabels["team"], "custom_details": details,
		}
	}
	req, _, err := jsonRequest(ctx, p.url, ev)
	return req, err
}

// alertmanager posts to Alertmanager's v2 API.
type alertmanager struct {
	url          string
	resolveAfter time.Duration
}

// AlertmanagerAlert is one element of the POST /api/v2/alerts body.
type AlertmanagerAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// amAlert maps a message: labels identify the alert (alert_id keeps
// distinct alerts of one rule and rep apart), annotations describe it.
// Alertmanager works in wall time, so startsAt is the event time (never
// later than now) and endsAt is now on resolve, now + resolveAfter while
// firing; the event times are in the annotations.
func amAlert(m *Message, now time.Time, resolveAfter time.Duration) AlertmanagerAlert {
	start := m.At
	if start.After(now) || start.IsZero() {
		start = now
	}
	a := AlertmanagerAlert{
		Labels: map[string]string{
			"alertname": m.Rule, "severity": m.Severity, "alert_id": m.ID, "source": "salespulse",
		},
		Annotations: map[string]string{"summary": m.Summary, "event_time": m.At.Format(time.RFC3339Nano), "event_ids": strings.Join(m.EventIDs, ",")},
		StartsAt:    start.UTC(),
		EndsAt:      now.Add(resolveAfter).UTC(),
	}
	if m.Recipient != nil {
		a.Labels["recipient_role"], a.Labels["recipient"] = m.Recipient.Role, m.Recipient.ID
	}
	for k, v := range map[string]string{"team": m.TeamID, "rep": m.RepID, "manager": m.ManagerID} {
		if v != "" {
			a.Labels[k] = v
		}
	}
	for k, v := range m.Values {
		a.Annotations["value_"+k] = v
	}
	if m.Resolved() {
		a.EndsAt = now.UTC()
		if m.EndsAt != nil {
			a.Annotations["resolved_event_time"] = m.EndsAt.Format(time.RFC3339Nano)
		}
	}
	return a
}

func (a alertmanager) request(ctx context.Context, m *Message, now time.Time) (*http.Request, error) {
	req, _, err := jsonRequest(ctx, strings.TrimRight(a.url, "/")+"/api/v2/alerts", []AlertmanagerAlert{amAlert(m, now, a.resolveAfter)})
	return req, err
}

// digest is never called: Validate refuses group_by on alertmanager hooks,
// because Alertmanager groups (its route's group_by) and we forward each
// alert to it.
func (a alertmanager) digest(context.Context, *Digest, time.Time) (*http.Request, error) {
	return nil, ErrAMGrouping
}

func newHook(c *HookConfig, ack bool) hook {
	switch c.Type {
	case HookWebhook:
		return webhook{url: c.URL, secret: []byte(c.Secret)}
	case HookSlack:
		return slack{url: c.URL, ack: ack}
	case HookPagerDuty:
		return pagerDuty{url: c.URL, routingKey: c.Secret}
	default:
		return alertmanager{url: c.URL, resolveAfter: c.ResolveAfter}
	}
}
