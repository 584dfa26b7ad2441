package anomaly

import (
	"github.com/salespulse/salespulse/pipeline/anomaly/detect"
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
	RuleDealAtRisk              = "deal_at_risk"                // an open deal's win probability dropped by deal_risk.drop
	RuleMarketSignal            = "market_signal"               // a market signal about an account: a task for its owner
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
	RuleDealAtRisk:              schemas.SeverityWarning,
	RuleMarketSignal:            schemas.SeverityInfo,
}

// AlertID is the stable id of an alert: a hash of the rule and the ids of
// its subject (quote event id, lead id and trigger event id, approval id,
// rep id and the event that opened the episode). The same input always
// yields the same id, so a replay rewrites the same ClickHouse row and hooks
// can use it as their idempotency key.
func AlertID(rule string, subject ...string) string { return detect.AlertID(rule, subject...) }

// newAlert starts an inactive alert for rule and subject.
func newAlert(rule string, subject ...string) *detect.Tracked {
	return &detect.Tracked{Alert: schemas.Alert{ID: detect.AlertID(rule, subject...), Rule: rule, Severity: Rules[rule]}}
}
