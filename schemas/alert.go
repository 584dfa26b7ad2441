package schemas

import "time"

// Severity orders alerts for routing: hooks subscribe to a minimum severity.
type Severity uint8

// Severities, lowest first.
const (
	SeverityInfo Severity = iota
	SeverityWarning
	SeverityCritical
)

// String returns "info", "warning" or "critical".
func (s Severity) String() string {
	switch s {
	case SeverityWarning:
		return "warning"
	case SeverityCritical:
		return "critical"
	}
	return "info"
}

// AlertState follows Prometheus' alerting rules: an alert is pending while
// its condition holds but has not lasted long enough, firing once it has, and
// resolved when the condition cleared after firing.
type AlertState uint8

// Alert states.
const (
	AlertInactive AlertState = iota
	AlertPending
	AlertFiring
	AlertResolved
)

// String returns the state's lower-case name.
func (s AlertState) String() string {
	switch s {
	case AlertPending:
		return "pending"
	case AlertFiring:
		return "firing"
	case AlertResolved:
		return "resolved"
	}
	return "inactive"
}

// Alert is one detected anomaly, as stored in salespulse.alerts and produced
// to the alerts topic. ID is stable: the same input yields the same id, so
// hooks can use it as their idempotency key.
type Alert struct {
	ID        string
	Rule      string // e.g. "discount_beyond_authority", "lead_response_sla"
	State     AlertState
	Severity  Severity
	RepID     string
	TeamID    string
	ManagerID string // who gets paged
	Summary   string // one human sentence, no personal data
	EventIDs  []string
	Values    map[string]string // evidence: observed values and the limits they broke
	At        time.Time         // event time the condition was detected (not wall time)
	EndsAt    time.Time         // set when resolved
}
