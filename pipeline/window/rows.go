package window

import (
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Fact and rollup tables the stage fills through Batch.Aggregates (created
// by schemas/migrations/005_kbi.sql).
const (
	TableLeadResponse = "lead_response_facts"
	TableApprovals    = "approval_facts"
	TableActivity     = "activity_daily"
	TableRepAccounts  = "rep_accounts_daily"
	TableDeals        = "deal_facts"
)

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

// AppendFuncs returns the column appenders of every table the stage
// fills, for the ClickHouse sink's RegisterAggregate (cmd wires them:
// the pipeline does not know the sink):
//
//	for table, fn := range window.AppendFuncs() {
//		if err := sink.RegisterAggregate(table, fn); err != nil { ... }
//	}
//
// Each appends columns in the table's column order.
func AppendFuncs() map[string]func(driver.Batch, any) (int, error) {
	return map[string]func(driver.Batch, any) (int, error){
		TableLeadResponse: appendLeadResponse,
		TableApprovals:    appendApprovals,
		TableActivity:     appendActivity,
		TableRepAccounts:  appendAccounts,
		TableDeals:        appendDeals,
	}
}

// cols appends whole columns and remembers the first error.
type cols struct {
	b   driver.Batch
	k   int
	err error
}

func (c *cols) add(v any) {
	if c.err == nil {
		c.err = c.b.Column(c.k).Append(v)
	}
	c.k++
}

func column[R, V any](rs []R, f func(*R) V) []V {
	out := make([]V, len(rs))
	for k := range rs {
		out[k] = f(&rs[k])
	}
	return out
}

func appendLeadResponse(b driver.Batch, rows any) (int, error) {
	rs := rows.([]LeadResponseRow)
	c := &cols{b: b}
	c.add(column(rs, func(r *LeadResponseRow) time.Time { return r.Day }))
	c.add(column(rs, func(r *LeadResponseRow) time.Time { return r.TriggerAt }))
	c.add(column(rs, func(r *LeadResponseRow) string { return r.LeadID }))
	c.add(column(rs, func(r *LeadResponseRow) string { return r.TriggerEventID }))
	c.add(column(rs, func(r *LeadResponseRow) string { return r.TriggerType }))
	c.add(column(rs, func(r *LeadResponseRow) string { return r.TriggerChannel }))
	c.add(column(rs, func(r *LeadResponseRow) string { return r.OwnerRepID }))
	c.add(column(rs, func(r *LeadResponseRow) string { return r.TeamID }))
	c.add(column(rs, func(r *LeadResponseRow) string { return r.TimeZone }))
	c.add(column(rs, func(r *LeadResponseRow) uint8 {
		if r.Answered {
			return 1
		}
		return 0
	}))
	c.add(column(rs, func(r *LeadResponseRow) string { return r.ResponderRepID }))
	c.add(column(rs, func(r *LeadResponseRow) string { return r.ResponseEventID }))
	c.add(column(rs, func(r *LeadResponseRow) *time.Time { return r.ResponseAt }))
	c.add(column(rs, func(r *LeadResponseRow) string { return r.ResponseType }))
	c.add(column(rs, func(r *LeadResponseRow) string { return r.ResponseChannel }))
	c.add(column(rs, func(r *LeadResponseRow) *float64 { return r.ResponseS }))
	c.add(column(rs, func(r *LeadResponseRow) *float64 { return r.BusinessS }))
	return len(rs), c.err
}

func appendApprovals(b driver.Batch, rows any) (int, error) {
	rs := rows.([]ApprovalRow)
	c := &cols{b: b}
	c.add(column(rs, func(r *ApprovalRow) time.Time { return r.Day }))
	c.add(column(rs, func(r *ApprovalRow) time.Time { return r.RequestedAt }))
	c.add(column(rs, func(r *ApprovalRow) string { return r.ApprovalID }))
	c.add(column(rs, func(r *ApprovalRow) string { return r.RequestEventID }))
	c.add(column(rs, func(r *ApprovalRow) string { return r.RepID }))
	c.add(column(rs, func(r *ApprovalRow) string { return r.TeamID }))
	c.add(column(rs, func(r *ApprovalRow) string { return r.TimeZone }))
	c.add(column(rs, func(r *ApprovalRow) string { return r.Outcome }))
	c.add(column(rs, func(r *ApprovalRow) string { return r.ApproverID }))
	c.add(column(rs, func(r *ApprovalRow) string { return r.DecisionEventID }))
	c.add(column(rs, func(r *ApprovalRow) *time.Time { return r.DecidedAt }))
	c.add(column(rs, func(r *ApprovalRow) *float64 { return r.LatencyS }))
	return len(rs), c.err
}

func appendActivity(b driver.Batch, rows any) (int, error) {
	rs := rows.([]ActivityRow)
	c := &cols{b: b}
	c.add(column(rs, func(r *ActivityRow) time.Time { return r.Day }))
	c.add(column(rs, func(r *ActivityRow) string { return r.TeamID }))
	c.add(column(rs, func(r *ActivityRow) string { return r.RepID }))
	c.add(column(rs, func(r *ActivityRow) string { return r.Channel }))
	c.add(column(rs, func(r *ActivityRow) string { return r.Type }))
	c.add(column(rs, func(r *ActivityRow) string { return r.Direction }))
	c.add(column(rs, func(r *ActivityRow) uint64 { return r.Interactions }))
	c.add(column(rs, func(r *ActivityRow) float64 { return r.DurationS }))
	return len(rs), c.err
}

func appendAccounts(b driver.Batch, rows any) (int, error) {
	rs := rows.([]AccountRow)
	c := &cols{b: b}
	c.add(column(rs, func(r *AccountRow) time.Time { return r.Day }))
	c.add(column(rs, func(r *AccountRow) string { return r.TeamID }))
	c.add(column(rs, func(r *AccountRow) string { return r.RepID }))
	c.add(column(rs, func(r *AccountRow) string { return r.AccountID }))
	return len(rs), c.err
}

func appendDeals(b driver.Batch, rows any) (int, error) {
	rs := rows.([]DealRow)
	c := &cols{b: b}
	c.add(column(rs, func(r *DealRow) time.Time { return r.Day }))
	c.add(column(rs, func(r *DealRow) time.Time { return r.OccurredAt }))
	c.add(column(rs, func(r *DealRow) string { return r.EventID }))
	c.add(column(rs, func(r *DealRow) string { return r.Type }))
	c.add(column(rs, func(r *DealRow) string { return r.RepID }))
	c.add(column(rs, func(r *DealRow) string { return r.TeamID }))
	c.add(column(rs, func(r *DealRow) string { return r.AccountID }))
	c.add(column(rs, func(r *DealRow) string { return r.Currency }))
	c.add(column(rs, func(r *DealRow) *float64 { return r.Amount }))
	c.add(column(rs, func(r *DealRow) *float64 { return r.ListPrice }))
	c.add(column(rs, func(r *DealRow) *float64 { return r.DiscountPct }))
	return len(rs), c.err
}
