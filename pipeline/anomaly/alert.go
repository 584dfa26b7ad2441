package anomaly

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/salespulse/salespulse/schemas"
)

// Rule names: the alert's "rule" column, Alertmanager's alertname label.
const (
	RuleDiscountBeyondAuthority = "discount_beyond_authority"   // quote above the rep's max_pct
	RuleDiscountWithoutApproval = "discount_without_approval"   // quote above approval_above_pct, no approved approval
	RuleApprovalBeyondAuthority = "approval_beyond_authority"   // approver's max_pct below the approved discount
	RuleLeadResponseSLA         = "lead_response_sla"           // lead unanswered at its SLA deadline
	RuleLeadResponseEscalated   = "lead_response_sla_escalated" // … and at escalate_factor × SLA
	RuleApprovalBacklog         = "approval_backlog"            // approval undecided after approvals.backlog
	RuleDiscountOutlier         = "discount_outlier"            // rep's recent discounts far above the team's
	RuleResponseOutlier         = "response_time_outlier"       // rep's recent response times far above the team's
	RuleActivityDrop            = "activity_drop"               // rep's activity collapsed against their share of the team's
)

// Rules lists every rule with its severity.
var Rules = map[string]schemas.Severity{
	RuleDiscountBeyondAuthority: schemas.SeverityCritical,
	RuleDiscountWithoutApproval: schemas.SeverityCritical,
	RuleApprovalBeyondAuthority: schemas.SeverityCritical,
	RuleLeadResponseSLA:         schemas.SeverityWarning,
	RuleLeadResponseEscalated:   schemas.SeverityCritical,
	RuleApprovalBacklog:         schemas.SeverityWarning,
	RuleDiscountOutlier:         schemas.SeverityWarning,
	RuleResponseOutlier:         schemas.SeverityWarning,
	RuleActivityDrop:            schemas.SeverityWarning,
}

// AlertID is the stable id of an alert: a hash of the rule and the ids of
// its subject (quote event id, lead id and trigger event id, approval id,
// rep id and the event that opened the episode). The same input always
// yields the same id, so a replay rewrites the same ClickHouse row and hooks
// can use it as their idempotency key.
func AlertID(rule string, subject ...string) string {
	h := sha256.New()
	h.Write([]byte("salespulse/alert/v1\x00"))
	h.Write([]byte(rule))
	for _, s := range subject {
		h.Write([]byte{0})
		h.Write([]byte(s))
	}
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}

// tracked is one alert's lifecycle within a partition: the state machine
// inactive → pending → firing → resolved of Prometheus' alerting rules.
// Only transitions are emitted, so a condition that keeps holding is
// deduplicated into one firing row.
type tracked struct {
	a schemas.Alert
}

func (t *tracked) state() schemas.AlertState { return t.a.State }

// newAlert starts an inactive alert for rule and subject.
func newAlert(rule string, subject ...string) *tracked {
	return &tracked{a: schemas.Alert{ID: AlertID(rule, subject...), Rule: rule, Severity: Rules[rule]}}
}

// to moves t into state s at event time at and returns the row to emit, or
// false when nothing changes (deduplication). Pending and firing set At to
// the event time of the transition; resolved sets EndsAt and keeps At, the
// time it started firing.
func (t *tracked) to(s schemas.AlertState, at time.Time) (schemas.Alert, bool) {
	if t.a.State == s {
		return schemas.Alert{}, false
	}
	switch s {
	case schemas.AlertPending:
		if t.a.State == schemas.AlertFiring {
			return schemas.Alert{}, false
		}
		t.a.At, t.a.EndsAt = at, time.Time{}
	case schemas.AlertFiring:
		t.a.At, t.a.EndsAt = at, time.Time{}
	case schemas.AlertResolved:
		if t.a.State != schemas.AlertFiring {
			// Pending that clears goes back to inactive silently.
			t.a.State = schemas.AlertInactive
			return schemas.Alert{}, false
		}
		t.a.EndsAt = at
	}
	t.a.State = s
	out := t.a
	out.EventIDs = append([]string(nil), t.a.EventIDs...)
	if t.a.Values != nil {
		out.Values = make(map[string]string, len(t.a.Values))
		for k, v := range t.a.Values {
			out.Values[k] = v
		}
	}
	return out, true
}
