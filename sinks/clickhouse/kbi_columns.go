package clickhouse

import (
	"fmt"
	"slices"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/salespulse/salespulse/schemas"
)

// The KBI tables the window stage fills (schemas.Batch.Aggregates): the
// stage emits typed rows, and this file alone knows how they become
// ClickHouse columns. Each layout lists the table's columns in insert
// order with their exact types (TestColumnTypesMatchDDL checks them against
// migrations/005_kbi.sql and 007_provisional.sql) and appends whole
// columns from the rows.
type kbiLayout struct {
	// cols are the insert's columns: the table's own, then
	// originColumns when group.class is appendOnly.
	cols   []clickhouse.ColumnNameAndType
	append func(driver.Batch, schemas.Rows) error // the table's own columns
	// group says how rows of many batches share an insert (kbi_group.go);
	// the zero value inserts them per batch.
	group kbiGrouping
}

// originColumns name the batch a row came from, as in interactions; the
// append-only KBI tables have them since migration 015.
var originColumns = []clickhouse.ColumnNameAndType{
	{Name: "kafka_topic", Type: "LowCardinality(String)"},
	{Name: "kafka_partition", Type: "Int32"},
	{Name: "kafka_first_offset", Type: "Int64"},
	{Name: "kafka_last_offset", Type: "Int64"},
}

var (
	leadResponseCols = []clickhouse.ColumnNameAndType{
		{Name: "day", Type: "Date"},
		{Name: "trigger_at", Type: "DateTime64(3, 'UTC')"},
		{Name: "lead_id", Type: "String"},
		{Name: "trigger_event_id", Type: "String"},
		{Name: "trigger_type", Type: "LowCardinality(String)"},
		{Name: "trigger_channel", Type: "LowCardinality(String)"},
		{Name: "owner_rep_id", Type: "String"},
		{Name: "team_id", Type: "String"},
		{Name: "time_zone", Type: "LowCardinality(String)"},
		{Name: "is_answered", Type: "UInt8"},
		{Name: "responder_rep_id", Type: "String"},
		{Name: "response_event_id", Type: "String"},
		{Name: "response_at", Type: "Nullable(DateTime64(3, 'UTC'))"},
		{Name: "response_type", Type: "LowCardinality(String)"},
		{Name: "response_channel", Type: "LowCardinality(String)"},
		{Name: "response_s", Type: "Nullable(Float64)"},
		{Name: "business_s", Type: "Nullable(Float64)"},
	}
	approvalCols = []clickhouse.ColumnNameAndType{
		{Name: "day", Type: "Date"},
		{Name: "requested_at", Type: "DateTime64(3, 'UTC')"},
		{Name: "approval_id", Type: "String"},
		{Name: "request_event_id", Type: "String"},
		{Name: "rep_id", Type: "String"},
		{Name: "team_id", Type: "String"},
		{Name: "time_zone", Type: "LowCardinality(String)"},
		{Name: "outcome", Type: "LowCardinality(String)"},
		{Name: "approver_id", Type: "String"},
		{Name: "decision_event_id", Type: "String"},
		{Name: "decided_at", Type: "Nullable(DateTime64(3, 'UTC'))"},
		{Name: "latency_s", Type: "Nullable(Float64)"},
	}
	// The provisional tables have the fact tables' columns, then these:
	// the row's version (the batch's last offset) and the tombstone flag
	// of ReplacingMergeTree(version, is_deleted).
	provisionalCols = []clickhouse.ColumnNameAndType{
		{Name: "version", Type: "UInt64"},
		{Name: "is_deleted", Type: "UInt8"},
	}
)

var kbiLayouts = map[string]kbiLayout{
	schemas.TableLeadResponse: {
		cols:   withOrigins(leadResponseCols),
		append: appender(appendLeadResponse),
		group: grouping[schemas.LeadResponseRows](appendOnly, "toYYYYMM(day)", func(r *schemas.LeadResponseRow) uint32 { return yyyymm(r.Day) },
			func(r *schemas.LeadResponseRow) {
				r.ResponseAt, r.ResponseS, r.BusinessS = own(r.ResponseAt), own(r.ResponseS), own(r.BusinessS)
			}),
	},
	schemas.TableApprovals: {
		cols:   withOrigins(approvalCols),
		append: appender(appendApprovals),
		group: grouping[schemas.ApprovalRows](appendOnly, "toYYYYMM(day)", func(r *schemas.ApprovalRow) uint32 { return yyyymm(r.Day) },
			func(r *schemas.ApprovalRow) { r.DecidedAt, r.LatencyS = own(r.DecidedAt), own(r.LatencyS) }),
	},
	// The provisional tables are ReplacingMergeTree(version, is_deleted)
	// that no view reads and every reader reads with FINAL. A batch's
	// rows are derived deterministically from its offsets, with version =
	// its last offset (window.Stage), so a replay inserts the very rows
	// it inserted before, and FINAL keeps one of each.
	schemas.TableLeadResponseProvisional: {
		cols:   slices.Concat(leadResponseCols, provisionalCols),
		append: appender(appendLeadResponseProvisional),
		group: grouping[schemas.LeadResponseProvisionalRows](idempotent, "", nil, func(r *schemas.LeadResponseProvisionalRow) {
			r.ResponseAt, r.ResponseS, r.BusinessS = own(r.ResponseAt), own(r.ResponseS), own(r.BusinessS)
		}),
	},
	schemas.TableApprovalsProvisional: {
		cols:   slices.Concat(approvalCols, provisionalCols),
		append: appender(appendApprovalsProvisional),
		group: grouping[schemas.ApprovalProvisionalRows](idempotent, "", nil, func(r *schemas.ApprovalProvisionalRow) {
			r.DecidedAt, r.LatencyS = own(r.DecidedAt), own(r.LatencyS)
		}),
	},
	// Partial sums: merges fold a batch's rows into others', so a
	// replayed batch is looked up by the receipts a view writes in the
	// same insert (migration 016).
	schemas.TableActivity: {
		cols: withOrigins([]clickhouse.ColumnNameAndType{
			{Name: "day", Type: "Date"},
			{Name: "team_id", Type: "String"},
			{Name: "rep_id", Type: "String"},
			{Name: "channel", Type: "LowCardinality(String)"},
			{Name: "type", Type: "LowCardinality(String)"},
			{Name: "direction", Type: "LowCardinality(String)"},
			{Name: "interactions", Type: "SimpleAggregateFunction(sum, UInt64)"},
			{Name: "duration_s", Type: "SimpleAggregateFunction(sum, Float64)"},
		}),
		append: appender(appendActivity),
		group: grouping[schemas.ActivityRows](appendOnly, "toYYYYMM(day)", func(r *schemas.ActivityRow) uint32 { return yyyymm(r.Day) }, nil).
			receiptsIn("activity_receipts"),
	},
	schemas.TableRepAccounts: {
		cols: []clickhouse.ColumnNameAndType{
			{Name: "day", Type: "Date"},
			{Name: "team_id", Type: "String"},
			{Name: "rep_id", Type: "String"},
			{Name: "account_id", Type: "String"},
		},
		append: appender(appendAccounts),
		// A set: ReplacingMergeTree over all its columns, read only as
		// distinct accounts (uniqExact, DISTINCT) and fed to views that
		// keep uniq states (rep_activity_daily's accounts, its sums 0;
		// rep_accounts_monthly). A row stored twice changes none of them.
		group: grouping[schemas.AccountRows](idempotent, "toYYYYMM(day)", func(r *schemas.AccountRow) uint32 { return yyyymm(r.Day) }, nil),
	},
	schemas.TableDealFeatures: {
		cols:   withOrigins(dealFeatureCols()),
		append: appender(appendDealFeatures),
		group:  grouping[schemas.DealFeatureRows](appendOnly, "toYYYYMM(at)", func(r *schemas.DealFeatureRow) uint32 { return yyyymm(r.At) }, nil),
	},
	schemas.TableDealScores: {
		cols: withOrigins([]clickhouse.ColumnNameAndType{
			{Name: "at", Type: "DateTime64(3, 'UTC')"},
			{Name: "opportunity_id", Type: "String"},
			{Name: "account_id", Type: "String"},
			{Name: "rep_id", Type: "String"},
			{Name: "team_id", Type: "String"},
			{Name: "event", Type: "LowCardinality(String)"},
			{Name: "event_id", Type: "String"},
			{Name: "probability", Type: "Float64"},
			{Name: "reasons", Type: "Array(String)"},
			{Name: "model_id", Type: "LowCardinality(String)"},
		}),
		append: appender(appendDealScores),
		group:  grouping[schemas.DealScoreRows](appendOnly, "toYYYYMM(at)", func(r *schemas.DealScoreRow) uint32 { return yyyymm(r.At) }, nil),
	},
	schemas.TableDeals: {
		cols: withOrigins([]clickhouse.ColumnNameAndType{
			{Name: "day", Type: "Date"},
			{Name: "occurred_at", Type: "DateTime64(3, 'UTC')"},
			{Name: "event_id", Type: "String"},
			{Name: "type", Type: "LowCardinality(String)"},
			{Name: "rep_id", Type: "String"},
			{Name: "team_id", Type: "String"},
			{Name: "account_id", Type: "String"},
			{Name: "currency", Type: "LowCardinality(String)"},
			{Name: "amount", Type: "Nullable(Float64)"},
			{Name: "list_price", Type: "Nullable(Float64)"},
			{Name: "discount_pct", Type: "Nullable(Float64)"},
		}),
		append: appender(appendDeals),
		group: grouping[schemas.DealRows](appendOnly, "toYYYYMM(day)", func(r *schemas.DealRow) uint32 { return yyyymm(r.Day) },
			func(r *schemas.DealRow) {
				r.Amount, r.ListPrice, r.DiscountPct = own(r.Amount), own(r.ListPrice), own(r.DiscountPct)
			}),
	},
	schemas.TableForecasts: {
		cols: withOrigins([]clickhouse.ColumnNameAndType{
			{Name: "period_start", Type: "Date"},
			{Name: "period_kind", Type: "LowCardinality(String)"},
			{Name: "period", Type: "String"},
			{Name: "period_start_at", Type: "DateTime64(3, 'UTC')"},
			{Name: "submitted_at", Type: "DateTime64(3, 'UTC')"},
			{Name: "day", Type: "Date"},
			{Name: "event_id", Type: "String"},
			{Name: "team_id", Type: "String"},
			{Name: "rep_id", Type: "String"},
			{Name: "category", Type: "LowCardinality(String)"},
			{Name: "currency", Type: "LowCardinality(String)"},
			{Name: "amount", Type: "Float64"},
			{Name: "time_zone", Type: "LowCardinality(String)"},
		}),
		append: appender(appendForecasts),
		group: grouping[schemas.ForecastRows](appendOnly, "toYear(period_start)", func(r *schemas.ForecastRow) uint32 {
			return uint32(r.PeriodStart.UTC().Year())
		}, nil),
	},
}

// appender adapts a table's column function to kbiLayout.append. Rows of
// another type than the table's are a wiring bug in the stage, reported as
// ErrUnknownAggregate rather than a panic.
func appender[R schemas.Rows](fill func(*columnWriter, R)) func(driver.Batch, schemas.Rows) error {
	return func(b driver.Batch, rows schemas.Rows) error {
		rs, ok := rows.(R)
		if !ok {
			var want R
			return fmt.Errorf("rows of type %T, want %T: %w", rows, want, ErrUnknownAggregate)
		}
		c := &columnWriter{b: b}
		fill(c, rs)
		return c.err
	}
}

// columnWriter appends whole columns in order and remembers the first error.
type columnWriter struct {
	b     driver.Batch
	k     int
	err   error
	types []column.Interface // the batch's columns, fetched on first use
}

func (c *columnWriter) add(v any) {
	if c.err == nil {
		c.err = appendColumn(c.b, &c.types, c.k, v)
	}
	c.k++
}

// pluck extracts one field of every row as a column slice.
func pluck[R, V any](rs []R, f func(*R) V) []V {
	out := make([]V, len(rs))
	for k := range rs {
		out[k] = f(&rs[k])
	}
	return out
}

func appendLeadResponse(c *columnWriter, rs schemas.LeadResponseRows) {
	type R = schemas.LeadResponseRow
	c.add(pluck(rs, func(r *R) time.Time { return r.Day }))
	c.add(pluck(rs, func(r *R) time.Time { return r.TriggerAt }))
	c.add(pluck(rs, func(r *R) string { return r.LeadID }))
	c.add(pluck(rs, func(r *R) string { return r.TriggerEventID }))
	c.add(pluck(rs, func(r *R) string { return r.TriggerType }))
	c.add(pluck(rs, func(r *R) string { return r.TriggerChannel }))
	c.add(pluck(rs, func(r *R) string { return r.OwnerRepID }))
	c.add(pluck(rs, func(r *R) string { return r.TeamID }))
	c.add(pluck(rs, func(r *R) string { return r.TimeZone }))
	c.add(pluck(rs, func(r *R) uint8 { return boolByte(r.Answered) }))
	c.add(pluck(rs, func(r *R) string { return r.ResponderRepID }))
	c.add(pluck(rs, func(r *R) string { return r.ResponseEventID }))
	c.add(pluck(rs, func(r *R) *time.Time { return r.ResponseAt }))
	c.add(pluck(rs, func(r *R) string { return r.ResponseType }))
	c.add(pluck(rs, func(r *R) string { return r.ResponseChannel }))
	c.add(pluck(rs, func(r *R) *float64 { return r.ResponseS }))
	c.add(pluck(rs, func(r *R) *float64 { return r.BusinessS }))
}

func appendApprovals(c *columnWriter, rs schemas.ApprovalRows) {
	type R = schemas.ApprovalRow
	c.add(pluck(rs, func(r *R) time.Time { return r.Day }))
	c.add(pluck(rs, func(r *R) time.Time { return r.RequestedAt }))
	c.add(pluck(rs, func(r *R) string { return r.ApprovalID }))
	c.add(pluck(rs, func(r *R) string { return r.RequestEventID }))
	c.add(pluck(rs, func(r *R) string { return r.RepID }))
	c.add(pluck(rs, func(r *R) string { return r.TeamID }))
	c.add(pluck(rs, func(r *R) string { return r.TimeZone }))
	c.add(pluck(rs, func(r *R) string { return r.Outcome }))
	c.add(pluck(rs, func(r *R) string { return r.ApproverID }))
	c.add(pluck(rs, func(r *R) string { return r.DecisionEventID }))
	c.add(pluck(rs, func(r *R) *time.Time { return r.DecidedAt }))
	c.add(pluck(rs, func(r *R) *float64 { return r.LatencyS }))
}

// appendLeadResponseProvisional writes the fact columns, then version and
// is_deleted.
func appendLeadResponseProvisional(c *columnWriter, rs schemas.LeadResponseProvisionalRows) {
	type R = schemas.LeadResponseProvisionalRow
	appendLeadResponse(c, pluck(rs, func(r *R) schemas.LeadResponseRow { return r.LeadResponseRow }))
	c.add(pluck(rs, func(r *R) uint64 { return r.Version }))
	c.add(pluck(rs, func(r *R) uint8 { return boolByte(r.Deleted) }))
}

func appendApprovalsProvisional(c *columnWriter, rs schemas.ApprovalProvisionalRows) {
	type R = schemas.ApprovalProvisionalRow
	appendApprovals(c, pluck(rs, func(r *R) schemas.ApprovalRow { return r.ApprovalRow }))
	c.add(pluck(rs, func(r *R) uint64 { return r.Version }))
	c.add(pluck(rs, func(r *R) uint8 { return boolByte(r.Deleted) }))
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

func appendActivity(c *columnWriter, rs schemas.ActivityRows) {
	type R = schemas.ActivityRow
	c.add(pluck(rs, func(r *R) time.Time { return r.Day }))
	c.add(pluck(rs, func(r *R) string { return r.TeamID }))
	c.add(pluck(rs, func(r *R) string { return r.RepID }))
	c.add(pluck(rs, func(r *R) string { return r.Channel }))
	c.add(pluck(rs, func(r *R) string { return r.Type }))
	c.add(pluck(rs, func(r *R) string { return r.Direction }))
	c.add(pluck(rs, func(r *R) uint64 { return r.Interactions }))
	c.add(pluck(rs, func(r *R) float64 { return r.DurationS }))
}

func appendAccounts(c *columnWriter, rs schemas.AccountRows) {
	type R = schemas.AccountRow
	c.add(pluck(rs, func(r *R) time.Time { return r.Day }))
	c.add(pluck(rs, func(r *R) string { return r.TeamID }))
	c.add(pluck(rs, func(r *R) string { return r.RepID }))
	c.add(pluck(rs, func(r *R) string { return r.AccountID }))
}

func appendDeals(c *columnWriter, rs schemas.DealRows) {
	type R = schemas.DealRow
	c.add(pluck(rs, func(r *R) time.Time { return r.Day }))
	c.add(pluck(rs, func(r *R) time.Time { return r.OccurredAt }))
	c.add(pluck(rs, func(r *R) string { return r.EventID }))
	c.add(pluck(rs, func(r *R) string { return r.Type }))
	c.add(pluck(rs, func(r *R) string { return r.RepID }))
	c.add(pluck(rs, func(r *R) string { return r.TeamID }))
	c.add(pluck(rs, func(r *R) string { return r.AccountID }))
	c.add(pluck(rs, func(r *R) string { return r.Currency }))
	c.add(pluck(rs, func(r *R) *float64 { return r.Amount }))
	c.add(pluck(rs, func(r *R) *float64 { return r.ListPrice }))
	c.add(pluck(rs, func(r *R) *float64 { return r.DiscountPct }))
}

func appendForecasts(c *columnWriter, rs schemas.ForecastRows) {
	type R = schemas.ForecastRow
	c.add(pluck(rs, func(r *R) time.Time { return r.PeriodStart }))
	c.add(pluck(rs, func(r *R) string { return r.PeriodKind }))
	c.add(pluck(rs, func(r *R) string { return r.Period }))
	c.add(pluck(rs, func(r *R) time.Time { return r.PeriodStartAt }))
	c.add(pluck(rs, func(r *R) time.Time { return r.SubmittedAt }))
	c.add(pluck(rs, func(r *R) time.Time { return r.Day }))
	c.add(pluck(rs, func(r *R) string { return r.EventID }))
	c.add(pluck(rs, func(r *R) string { return r.TeamID }))
	c.add(pluck(rs, func(r *R) string { return r.RepID }))
	c.add(pluck(rs, func(r *R) string { return r.Category }))
	c.add(pluck(rs, func(r *R) string { return r.Currency }))
	c.add(pluck(rs, func(r *R) float64 { return r.Amount }))
	c.add(pluck(rs, func(r *R) string { return r.TimeZone }))
}

// dealFeatureCols are deal_features' columns: the row's identity, then
// one Float64 per feature in schemas.DealFeatureNames order.
func dealFeatureCols() []clickhouse.ColumnNameAndType {
	cols := []clickhouse.ColumnNameAndType{
		{Name: "at", Type: "DateTime64(3, 'UTC')"},
		{Name: "opportunity_id", Type: "String"},
		{Name: "account_id", Type: "String"},
		{Name: "rep_id", Type: "String"},
		{Name: "team_id", Type: "String"},
		{Name: "event", Type: "LowCardinality(String)"},
		{Name: "event_id", Type: "String"},
	}
	for _, n := range schemas.DealFeatureNames {
		cols = append(cols, clickhouse.ColumnNameAndType{Name: n, Type: "Float64"})
	}
	return cols
}

func appendDealFeatures(c *columnWriter, rs schemas.DealFeatureRows) {
	type R = schemas.DealFeatureRow
	c.add(pluck(rs, func(r *R) time.Time { return r.At }))
	c.add(pluck(rs, func(r *R) string { return r.OpportunityID }))
	c.add(pluck(rs, func(r *R) string { return r.AccountID }))
	c.add(pluck(rs, func(r *R) string { return r.RepID }))
	c.add(pluck(rs, func(r *R) string { return r.TeamID }))
	c.add(pluck(rs, func(r *R) string { return r.Event }))
	c.add(pluck(rs, func(r *R) string { return r.EventID }))
	for j := range schemas.DealFeatureNames {
		c.add(pluck(rs, func(r *R) float64 { return r.Features[j] }))
	}
}

func appendDealScores(c *columnWriter, rs schemas.DealScoreRows) {
	type R = schemas.DealScoreRow
	c.add(pluck(rs, func(r *R) time.Time { return r.At }))
	c.add(pluck(rs, func(r *R) string { return r.OpportunityID }))
	c.add(pluck(rs, func(r *R) string { return r.AccountID }))
	c.add(pluck(rs, func(r *R) string { return r.RepID }))
	c.add(pluck(rs, func(r *R) string { return r.TeamID }))
	c.add(pluck(rs, func(r *R) string { return r.Event }))
	c.add(pluck(rs, func(r *R) string { return r.EventID }))
	c.add(pluck(rs, func(r *R) float64 { return r.Probability }))
	c.add(pluck(rs, func(r *R) []string { return r.Reasons }))
	c.add(pluck(rs, func(r *R) string { return r.ModelID }))
}
