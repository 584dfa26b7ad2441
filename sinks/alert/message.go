// Package alert delivers SalesPulse alerts: a Producer writes the alerts of
// each pipeline batch to the durable Kafka topic sales.alerts (the Kafka
// hook, acknowledged before the batch is), and a Dispatcher consumes that
// topic in its own consumer group and pages through the configured hooks
// (generic signed webhook, Slack, PagerDuty Events v2, Alertmanager v2),
// each behind its own bounded queue, retries, rate limit and circuit
// breaker. A hook that is down or hangs never slows the pipeline, which
// only ever waits for Kafka, and loses nothing: an alert a hook could not
// take is parked on a Kafka topic and redelivered later.
package alert

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/salespulse/salespulse/schemas"
)

// Message is an alert on the wire: the value of a sales.alerts record and
// the body of the generic webhook. Times are RFC 3339 UTC event times.
// The idempotency key of a delivery is (ID, State): one alert id is
// delivered once per state change, and possibly more than once (at least
// once).
type Message struct {
	ID        string            `json:"id"`
	Rule      string            `json:"rule"`
	State     string            `json:"state"`    // pending, firing, resolved
	Severity  string            `json:"severity"` // info, warning, critical
	RepID     string            `json:"rep_id,omitempty"`
	TeamID    string            `json:"team_id,omitempty"`
	ManagerID string            `json:"manager_id,omitempty"`
	Summary   string            `json:"summary"`
	EventIDs  []string          `json:"event_ids"`
	Values    map[string]string `json:"values"`
	At        time.Time         `json:"at"`
	EndsAt    *time.Time        `json:"ends_at,omitempty"`
	// Version orders the messages of one id like salespulse.alerts does:
	// event-time ms of the change × 4 + state.
	Version uint64 `json:"version"`
	// Recipient is set on deliveries of a hook route with a recipient
	// role (never on sales.alerts records).
	Recipient *Recipient `json:"recipient,omitempty"`
}

// FromAlert converts a detector's alert.
func FromAlert(a *schemas.Alert) Message {
	m := messageOf(a)
	if !a.EndsAt.IsZero() {
		e := a.EndsAt.UTC()
		m.EndsAt = &e
	}
	return m
}

// AppendAlert appends the JSON of FromAlert(a) to dst (Message.AppendJSON)
// without allocating when dst has room: the message and its EndsAt stay on
// the stack.
func AppendAlert(dst []byte, a *schemas.Alert) ([]byte, error) {
	m := messageOf(a)
	var e time.Time
	if !a.EndsAt.IsZero() {
		e = a.EndsAt.UTC()
		m.EndsAt = &e
	}
	return m.AppendJSON(dst)
}

// messageOf is FromAlert but for EndsAt, which the caller points at a
// time.Time of its own (storing it here would move it to the heap).
func messageOf(a *schemas.Alert) Message {
	m := Message{
		ID: a.ID, Rule: a.Rule, State: a.State.String(), Severity: a.Severity.String(),
		RepID: a.RepID, TeamID: a.TeamID, ManagerID: a.ManagerID, Summary: a.Summary,
		EventIDs: a.EventIDs, Values: a.Values, At: a.At.UTC(),
	}
	if m.EventIDs == nil {
		m.EventIDs = []string{}
	}
	if m.Values == nil {
		m.Values = map[string]string{}
	}
	t := a.At
	if !a.EndsAt.IsZero() && a.EndsAt.After(t) {
		t = a.EndsAt
	}
	ms := max(t.UnixMilli(), 0)
	m.Version = uint64(ms)*4 + uint64(a.State&3)
	return m
}

// Sev parses the severity (unknown: info).
func (m *Message) Sev() schemas.Severity { return parseSeverity(m.Severity) }

func parseSeverity(s string) schemas.Severity {
	switch s {
	case "critical":
		return schemas.SeverityCritical
	case "warning":
		return schemas.SeverityWarning
	}
	return schemas.SeverityInfo
}

// Resolved reports whether the message ends the alert.
func (m *Message) Resolved() bool { return m.State == "resolved" }

// Decode parses a sales.alerts record value.
func Decode(b []byte) (Message, error) {
	var m Message
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("decode alert: %w", err)
	}
	if m.ID == "" || m.Rule == "" || m.State == "" {
		return m, fmt.Errorf("decode alert: %w", schemas.Invalid("sales.alerts", "id/rule/state", "", "required"))
	}
	return m, nil
}
