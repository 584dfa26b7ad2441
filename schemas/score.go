package schemas

import "time"

// Deal score tables the anomaly stage's deal_at_risk detector fills
// through Batch.Aggregates (migrations/009_deal_scores.sql,
// docs/scores.md).
const (
	TableDealFeatures = "deal_features"
	TableDealScores   = "deal_scores"
)

// DealFeatureNames are the engagement features of an open opportunity,
// in the order of DealFeatureRow.Features and of the deal_features
// columns after the row's identity.
var DealFeatureNames = [...]string{
	"email_7d", "phone_7d", "social_7d", "meetings_7d",
	"email_30d", "phone_30d", "social_30d", "meetings_30d",
	"first_response_h", "meetings", "discount_pct", "stage_age_d", "cycle_d",
	"approvals", "approvals_rejected", "stage",
}

// DealFeatureRow is one opportunity's features as of At, computed in
// the stream: at its opening, at each stage change, quote and approval,
// at each rescore, and at its close (Event "won" or "lost": the training
// examples of `salespulse score train`).
type DealFeatureRow struct {
	At            time.Time
	OpportunityID string
	AccountID     string
	RepID         string
	TeamID        string
	Event         string // opened, moved, rescored, won, lost
	EventID       string // the event, "" for a rescore
	Features      [len(DealFeatureNames)]float64
}

// DealScoreRow is one opportunity's win probability as of At, with its
// top contributing features in words ("no meeting in 30 days (−0.12)").
type DealScoreRow struct {
	At            time.Time
	OpportunityID string
	AccountID     string
	RepID         string
	TeamID        string
	Event         string
	EventID       string
	Probability   float64
	Reasons       []string
	ModelID       string
}

// The rows of the deal score tables, as Batch.Aggregates carries them.
type (
	DealFeatureRows []DealFeatureRow // for TableDealFeatures
	DealScoreRows   []DealScoreRow   // for TableDealScores
)

func (r DealFeatureRows) Len() int { return len(r) }
func (r DealScoreRows) Len() int   { return len(r) }

func (DealFeatureRows) kbiRows() {}
func (DealScoreRows) kbiRows()   {}
