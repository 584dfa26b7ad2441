package schemas

import "time"

// Fact and rollup tables the window stage fills through Batch.Aggregates
// (created by migrations/005_kbi.sql and 007_provisional.sql). The
// ClickHouse sink owns their column layouts; the stage only produces the
// rows.
const (
	TableLeadResponse = "lead_response_facts"
	TableApprovals    = "approval_facts"
	TableActivity     = "activity_daily"
	TableRepAccounts  = "rep_accounts_daily"
	TableDeals        = "deal_facts"
	TableForecasts    = "forecast_facts" // migrations/008_forecast.sql
	// Provisional pairs, not final yet (docs/kbis.md "Provisional facts"):
	// versioned rows, the latest per key wins, tombstones delete.
	TableLeadResponseProvisional = "lead_response_provisional"
	TableApprovalsProvisional    = "approval_provisional"
)

// Rows is one KBI table's rows for a batch: LeadResponseRows,
// ApprovalRows, ActivityRows, AccountRows, DealRows, ForecastRows,
// LeadResponseProvisionalRows or ApprovalProvisionalRows. The set is closed
// (the unexported method) so a sink can switch on it exhaustively and the
// compiler stops a stage from handing over rows no sink has a layout for.
type Rows interface {
	// Len is the number of rows.
	Len() int
	kbiRows()
}

// LeadResponseRow is one lead trigger, answered or expired unanswered.
type LeadResponseRow struct {
	Day             time.Time // local date of the trigger in the team's zone, as midnight UTC
	TriggerAt       time.Time
	LeadID          string
	TriggerEventID  string
	TriggerType     string
	TriggerChannel  string
	OwnerRepID      string
	TeamID          string
	TimeZone        string
	Answered        bool
	ResponderRepID  string
	ResponseEventID string
	ResponseAt      *time.Time
	ResponseType    string
	ResponseChannel string
	ResponseS       *float64
	BusinessS       *float64
}

// ApprovalRow is one approval request, decided or expired undecided.
type ApprovalRow struct {
	Day             time.Time
	RequestedAt     time.Time
	ApprovalID      string
	RequestEventID  string
	RepID           string
	TeamID          string
	TimeZone        string
	Outcome         string // approved, rejected, expired
	ApproverID      string
	DecisionEventID string
	DecidedAt       *time.Time
	LatencyS        *float64
}

// LeadResponseProvisionalRow is a lead trigger's tentative answer, or a
// tombstone (Deleted) that withdraws the key's earlier tentative answer.
// The key is (LeadID, TriggerEventID); the row of a key with the highest
// Version counts. A tombstone carries the trigger's columns and no answer.
type LeadResponseProvisionalRow struct {
	LeadResponseRow
	Version uint64 // the last offset of the batch that wrote it
	Deleted bool
}

// ApprovalProvisionalRow is an approval request's tentative decision, or a
// tombstone: as LeadResponseProvisionalRow, keyed by (ApprovalID,
// RequestEventID).
type ApprovalProvisionalRow struct {
	ApprovalRow
	Version uint64
	Deleted bool
}

// ActivityRow is a partial sum of interactions for one key in one batch.
type ActivityRow struct {
	Day          time.Time
	TeamID       string
	RepID        string
	Channel      string
	Type         string
	Direction    string
	Interactions uint64
	DurationS    float64
}

// AccountRow says a rep touched an account on a local day.
type AccountRow struct {
	Day       time.Time
	TeamID    string
	RepID     string
	AccountID string
}

// DealRow is one quote, won deal or lost deal.
type DealRow struct {
	Day         time.Time
	OccurredAt  time.Time
	EventID     string
	Type        string
	RepID       string
	TeamID      string
	AccountID   string
	Currency    string
	Amount      *float64
	ListPrice   *float64
	DiscountPct *float64
}

// ForecastRow is one forecast submission (forecast.submitted), with its
// period's boundaries in the team's time zone: the view takes a period's
// snapshot as the last submission with SubmittedAt before PeriodStartAt.
type ForecastRow struct {
	PeriodStart   time.Time // the period's first local date, as midnight UTC (toStartOfMonth/Quarter of a KBI day)
	PeriodKind    string    // "month" or "quarter"
	Period        string    // "2026-03", "2026-Q2"
	PeriodStartAt time.Time // the instant the period begins in the team's zone (schemas.Period.Start)
	SubmittedAt   time.Time
	Day           time.Time // local date of the submission
	EventID       string
	TeamID        string
	RepID         string // empty: the team's own forecast
	Category      string // commit, best_case, pipeline
	Currency      string
	Amount        float64
	TimeZone      string
}

// The rows of each KBI table, as Batch.Aggregates carries them.
type (
	LeadResponseRows []LeadResponseRow // for TableLeadResponse
	ApprovalRows     []ApprovalRow     // for TableApprovals
	ActivityRows     []ActivityRow     // for TableActivity
	AccountRows      []AccountRow      // for TableRepAccounts
	DealRows         []DealRow         // for TableDeals
	ForecastRows     []ForecastRow     // for TableForecasts

	LeadResponseProvisionalRows []LeadResponseProvisionalRow // for TableLeadResponseProvisional
	ApprovalProvisionalRows     []ApprovalProvisionalRow     // for TableApprovalsProvisional
)

func (r LeadResponseRows) Len() int { return len(r) }
func (r ApprovalRows) Len() int     { return len(r) }
func (r ActivityRows) Len() int     { return len(r) }
func (r AccountRows) Len() int      { return len(r) }
func (r DealRows) Len() int         { return len(r) }
func (r ForecastRows) Len() int     { return len(r) }

func (r LeadResponseProvisionalRows) Len() int { return len(r) }
func (r ApprovalProvisionalRows) Len() int     { return len(r) }

func (LeadResponseRows) kbiRows() {}
func (ApprovalRows) kbiRows()     {}
func (ActivityRows) kbiRows()     {}
func (AccountRows) kbiRows()      {}
func (DealRows) kbiRows()         {}
func (ForecastRows) kbiRows()     {}

func (LeadResponseProvisionalRows) kbiRows() {}
func (ApprovalProvisionalRows) kbiRows()     {}
