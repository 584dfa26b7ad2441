package clickhouse

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/salespulse/salespulse/schemas"
)

// Column lists of the tables the sink writes, in insert order, with their
// exact ClickHouse types. Over HTTP the types are handed to clickhouse-go so
// it need not DESCRIBE the table before every insert; TestColumnTypesMatchDDL
// checks them against the migrated tables.
var (
	interactionColumns = []clickhouse.ColumnNameAndType{
		{Name: "event_id", Type: "String"},
		{Name: "occurred_at", Type: "DateTime64(3, 'UTC')"},
		{Name: "source", Type: "LowCardinality(String)"},
		{Name: "type", Type: "LowCardinality(String)"},
		{Name: "direction", Type: "LowCardinality(String)"},
		{Name: "channel", Type: "LowCardinality(String)"},
		{Name: "rep_id", Type: "String"},
		{Name: "team_id", Type: "String"},
		{Name: "account_id", Type: "String"},
		{Name: "lead_id", Type: "String"},
		{Name: "approval_id", Type: "String"},
		{Name: "approver_id", Type: "String"},
		{Name: "stage", Type: "LowCardinality(String)"},
		{Name: "currency", Type: "LowCardinality(String)"},
		{Name: "duration_s", Type: "Nullable(Float64)"},
		{Name: "amount", Type: "Nullable(Float64)"},
		{Name: "list_price", Type: "Nullable(Float64)"},
		{Name: "discount_pct", Type: "Nullable(Float64)"},
		{Name: "approved", Type: "Nullable(Bool)"},
		{Name: "contact_key", Type: "String"},
		{Name: "email_key", Type: "String"},
		{Name: "phone_key", Type: "String"},
		{Name: "mobile_key", Type: "String"},
		{Name: "attributes", Type: "Map(String, String)"},
		{Name: "schema_version", Type: "UInt8"},
		{Name: "kafka_topic", Type: "LowCardinality(String)"},
		{Name: "kafka_partition", Type: "Int32"},
		{Name: "kafka_first_offset", Type: "Int64"},
		{Name: "kafka_last_offset", Type: "Int64"},
		{Name: "ingested_at", Type: "DateTime64(3, 'UTC')"},
	}
	lateColumns = append(interactionColumns[:len(interactionColumns):len(interactionColumns)],
		clickhouse.ColumnNameAndType{Name: "reason", Type: "LowCardinality(String)"})
	alertColumns = []clickhouse.ColumnNameAndType{
		{Name: "id", Type: "String"},
		{Name: "rule", Type: "LowCardinality(String)"},
		{Name: "state", Type: "LowCardinality(String)"},
		{Name: "severity", Type: "LowCardinality(String)"},
		{Name: "rep_id", Type: "String"},
		{Name: "team_id", Type: "String"},
		{Name: "manager_id", Type: "String"},
		{Name: "summary", Type: "String"},
		{Name: "event_ids", Type: "Array(String)"},
		{Name: "values", Type: "Map(String, String)"},
		{Name: "at", Type: "DateTime64(3, 'UTC')"},
		{Name: "ends_at", Type: "Nullable(DateTime64(3, 'UTC'))"},
		{Name: "version", Type: "UInt64"},
		{Name: "ingested_at", Type: "DateTime64(3, 'UTC')"},
	}
)

// LateReason is written to late_events.reason: the batch contract has one
// reason for setting an event aside (see schemas.Batch.Late).
const LateReason = "beyond_allowed_lateness"

// insertQuery renders "INSERT INTO db.table (`a`, `b`, ...)". Names are
// backquoted because alerts has a column named values.
func insertQuery(db, table string, cols []clickhouse.ColumnNameAndType) string {
	var b strings.Builder
	b.WriteString("INSERT INTO ")
	b.WriteString(db)
	b.WriteByte('.')
	b.WriteString(table)
	b.WriteString(" (")
	for k, c := range cols {
		if k > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('`')
		b.WriteString(c.Name)
		b.WriteByte('`')
	}
	b.WriteByte(')')
	return b.String()
}

// interactionCols holds one batch's interactions (or late events) as
// columns, except the String columns: those are read from the rows when
// appended (appendRowStrings), so only views of the rows are kept for
// them. The other columns are kept as what their serialization needs,
// written once as the rows are added: a LowCardinality column's
// dictionary and a uint32 key per row, the fixed-width and Nullable
// columns' bytes; only the attribute maps stay references. Nothing staged
// holds a pointer per row besides them, and appendTo hands each column its
// serialization without another pass (benchmarks/README.md, "String
// columns straight from the rows"). Buffers are reused across Write calls
// through a free list: reset keeps their capacity, so a steady stream of
// similar batches allocates only what clickhouse-go itself does.
type interactionCols struct {
	runs [][]schemas.Interaction // the rows, for the String columns (rowStrings)
	// The LowCardinality columns as their dictionaries and keys, built as
	// rows are added: source, type, direction, channel, stage, currency,
	// kafka_topic and (late_events) reason.
	lc [8]lcEncoder
	// The fixed-width and Nullable columns in their serialization
	// (wireCol), written as rows are added.
	occurredAt, ingestedAt                          wireCol // DateTime64(3)
	durationS, amount, listPrice, discountPct, appr wireCol // Nullable(Float64), Nullable(Bool)
	version                                         wireCol // UInt8
	partition, firstOffset, lastOffset              wireCol // Int32, Int64, Int64
	attributes                                      []map[string]string
	bytes                                           int64 // estimated uncompressed size
}

// wireCol is a column's serialization as Decode reads it: a Nullable
// column's null map (1 for null) and values apart, concatenated when
// appended; a plain column's values alone.
type wireCol struct {
	nulls, vals []byte
}

// grow makes room for n more rows of size bytes each.
func (w *wireCol) grow(n, size int, nullable bool) {
	w.vals = slices.Grow(w.vals, n*size)
	if nullable {
		w.nulls = slices.Grow(w.nulls, n)
	}
}

func (w *wireCol) reset() { w.nulls, w.vals = w.nulls[:0], w.vals[:0] }

func (w *wireCol) u64(v uint64) { w.vals = binary.LittleEndian.AppendUint64(w.vals, v) }

// null appends a Nullable column's null-map entry: 1 unless has.
func (w *wireCol) null(has bool) {
	if has {
		w.nulls = append(w.nulls, 0)
	} else {
		w.nulls = append(w.nulls, 1)
	}
}

// float appends a Nullable(Float64) value, null (and 0) unless has.
func (w *wireCol) float(has bool, v float64) {
	w.null(has)
	if !has {
		v = 0
	}
	w.u64(math.Float64bits(v))
}

// flag appends a Nullable(Bool) value, null (and false) unless has.
func (w *wireCol) flag(has, v bool) {
	w.null(has)
	if has && v {
		w.vals = append(w.vals, 1)
	} else {
		w.vals = append(w.vals, 0)
	}
}

// fill loads rows into the columns. Attribute maps and the rows are
// referenced, not copied: the columns must not outlive the batch (they
// are reset before reuse).
func (c *interactionCols) fill(rows []schemas.Interaction, o schemas.Origin, ingested time.Time, late bool) {
	c.begin(len(rows))
	c.add(rows, o, ingested, late)
}

// begin empties the columns for n rows, added by add (several batches'
// rows make one grouped insert).
func (c *interactionCols) begin(n int) {
	c.reset()
	// Room for n rows up front: appended from empty, a group's columns
	// grew by 1.25× steps to up to a quarter more than they hold, copying
	// each column as often.
	for k := range c.lc {
		c.lc[k].keys = slices.Grow(c.lc[k].keys, n)
	}
	for _, w := range []*wireCol{&c.occurredAt, &c.ingestedAt, &c.firstOffset, &c.lastOffset} {
		w.grow(n, 8, false)
	}
	for _, w := range []*wireCol{&c.durationS, &c.amount, &c.listPrice, &c.discountPct} {
		w.grow(n, 8, true)
	}
	c.appr.grow(n, 1, true)
	c.version.grow(n, 1, false)
	c.partition.grow(n, 4, false)
	c.attributes = slices.Grow(c.attributes, n)
}

// add appends rows of origin o; begin must have made room for them.
func (c *interactionCols) add(rows []schemas.Interaction, o schemas.Origin, ingested time.Time, late bool) {
	if len(rows) == 0 {
		return
	}
	c.runs = append(c.runs, rows)
	in := uint64(proto.ToDateTime64(ingested, dateTimePrecision))
	var size int64
	for j := range rows {
		i := &rows[j]
		c.occurredAt.u64(uint64(proto.ToDateTime64(i.OccurredAt, dateTimePrecision)))
		c.lc[0].add(i.Source)
		c.lc[1].add(i.Type.String())
		c.lc[2].add(i.Direction())
		c.lc[3].add(i.Channel.String())
		c.lc[4].add(i.Stage)
		c.lc[5].add(i.Currency)
		c.lc[6].add(o.Topic)
		c.durationS.float(i.Has&schemas.HasDuration != 0, i.DurationS)
		c.amount.float(i.Has&schemas.HasAmount != 0, i.Amount)
		c.listPrice.float(i.Has&schemas.HasListPrice != 0, i.ListPrice)
		c.discountPct.float(i.Has&schemas.HasDiscount != 0, i.DiscountPct)
		c.appr.flag(i.Has&schemas.HasApproved != 0, i.Approved)
		c.attributes = append(c.attributes, i.Attributes)
		c.version.vals = append(c.version.vals, schemas.Version)
		c.partition.vals = binary.LittleEndian.AppendUint32(c.partition.vals, uint32(o.Partition))
		c.firstOffset.u64(uint64(o.FirstOffset))
		c.lastOffset.u64(uint64(o.LastOffset))
		c.ingestedAt.u64(in)
		if late {
			c.lc[7].add(LateReason)
		}
		size += int64(len(i.EventID) + len(i.Source) + len(i.RepID) + len(i.TeamID) + len(i.AccountID) +
			len(i.LeadID) + len(i.ApprovalID) + len(i.ApproverID) + len(i.Stage) + len(i.Currency) +
			len(i.ContactKey) + len(i.Keys.Email) + len(i.Keys.Phone) + len(i.Keys.Mobile) + len(o.Topic))
		for key, v := range i.Attributes {
			size += int64(len(key) + len(v))
		}
	}
	// Fixed-width columns: two DateTime64, four Nullable(Float64) with their
	// null maps, Nullable(Bool), UInt8, Int32, two Int64; plus the short
	// LowCardinality type, direction and channel strings.
	c.bytes += size + int64(len(rows))*(16+4*9+2+1+4+16+24)
}

// staged is a column of interactionCols held as its serialization
// (*wireCol, *lcEncoder): appendTo appends its rows rows to col, column
// k of batch, whose type appendTo checked.
type staged interface {
	appendTo(batch driver.Batch, k int, col column.Interface, rows int) error
}

// dateTimePrecision is that of interactions' DateTime64(3, 'UTC')
// columns, as wireCol holds them.
const dateTimePrecision = proto.PrecisionMilli

// rows is the number of rows added since begin.
func (c *interactionCols) rows() int { return len(c.version.vals) }

// reset empties every column, keeping capacity, and drops references to
// the previous batch's rows, strings and attribute maps so they can be
// collected.
func (c *interactionCols) reset() {
	clear(c.attributes)
	clear(c.runs)
	c.runs, c.attributes = c.runs[:0], c.attributes[:0]
	for k := range c.lc {
		c.lc[k].reset()
	}
	for _, w := range []*wireCol{&c.occurredAt, &c.ingestedAt, &c.durationS, &c.amount, &c.listPrice, &c.discountPct,
		&c.appr, &c.version, &c.partition, &c.firstOffset, &c.lastOffset} {
		w.reset()
	}
	c.bytes = 0
}

// appendTo appends the columns to batch in interactionColumns (or
// lateColumns) order.
func (c *interactionCols) appendTo(batch driver.Batch, late bool) error {
	if err := appendRowStrings(batch, c.runs); err != nil {
		return err
	}
	// nil: a String column, filled by appendRowStrings.
	cols := []any{
		nil, &c.occurredAt, &c.lc[0], &c.lc[1], &c.lc[2], &c.lc[3], nil, nil, nil,
		nil, nil, nil, &c.lc[4], &c.lc[5], &c.durationS, &c.amount, &c.listPrice,
		&c.discountPct, &c.appr, nil, nil, nil, nil, c.attributes, &c.version, &c.lc[6], &c.partition,
		&c.firstOffset, &c.lastOffset, &c.ingestedAt,
	}
	if late {
		cols = append(cols, &c.lc[7])
	}
	types := batch.Columns()
	n := c.rows()
	for k, v := range cols {
		st, ok := v.(staged)
		if !ok {
			continue
		}
		if k >= len(types) {
			return fmt.Errorf("append column %d: the batch has %d columns", k, len(types))
		}
		if want, got := lateColumns[k].Type, string(types[k].Type()); got != want {
			return fmt.Errorf("append column %d: %s is %s, serialized as %s", k, types[k].Name(), got, want)
		}
		if err := st.appendTo(batch, k, types[k], n); err != nil {
			return fmt.Errorf("append column %d: %w", k, err)
		}
		cols[k] = nil
	}
	return appendColumns(batch, cols)
}

// alertCols holds one batch's alerts as columns. Alerts are few per batch;
// the buffers are still pooled with the rest.
type alertCols struct {
	id, rule, state, severity, repID, teamID, managerID, summary []string
	eventIDs                                                     [][]string
	values                                                       []map[string]string
	at, ingestedAt                                               []time.Time
	endsAt                                                       []*time.Time
	endsVals                                                     []time.Time
	version                                                      []uint64
	bytes                                                        int64
}

// AlertVersion orders the rows of one alert id in the ReplacingMergeTree:
// the latest event-time change wins, and at equal times the later state
// (pending < firing < resolved).
func AlertVersion(a *schemas.Alert) uint64 {
	t := a.At
	if a.EndsAt.After(t) {
		t = a.EndsAt
	}
	ms := t.UnixMilli()
	if ms < 0 {
		ms = 0
	}
	return uint64(ms)*4 + uint64(a.State&3)
}

func (c *alertCols) fill(alerts []schemas.Alert, ingested time.Time) {
	n := len(alerts)
	for _, s := range []*[]string{&c.id, &c.rule, &c.state, &c.severity, &c.repID, &c.teamID, &c.managerID, &c.summary} {
		*s = (*s)[:0]
	}
	clear(c.eventIDs)
	clear(c.values)
	clear(c.endsAt)
	c.eventIDs, c.values, c.at, c.ingestedAt, c.endsAt, c.version = c.eventIDs[:0], c.values[:0], c.at[:0], c.ingestedAt[:0], c.endsAt[:0], c.version[:0]
	if cap(c.endsVals) < n {
		c.endsVals = make([]time.Time, n)
	}
	c.endsVals = c.endsVals[:n]
	var size int64
	for k := range alerts {
		a := &alerts[k]
		c.id = append(c.id, a.ID)
		c.rule = append(c.rule, a.Rule)
		c.state = append(c.state, a.State.String())
		c.severity = append(c.severity, a.Severity.String())
		c.repID = append(c.repID, a.RepID)
		c.teamID = append(c.teamID, a.TeamID)
		c.managerID = append(c.managerID, a.ManagerID)
		c.summary = append(c.summary, a.Summary)
		ids := a.EventIDs
		if ids == nil {
			ids = []string{}
		}
		c.eventIDs = append(c.eventIDs, ids)
		c.values = append(c.values, a.Values)
		c.at = append(c.at, a.At)
		if a.EndsAt.IsZero() {
			c.endsAt = append(c.endsAt, nil)
		} else {
			c.endsVals[k] = a.EndsAt
			c.endsAt = append(c.endsAt, &c.endsVals[k])
		}
		c.version = append(c.version, AlertVersion(a))
		c.ingestedAt = append(c.ingestedAt, ingested)
		size += int64(len(a.ID)+len(a.Rule)+len(a.RepID)+len(a.TeamID)+len(a.ManagerID)+len(a.Summary)) + 8*3 + 16
		for _, id := range a.EventIDs {
			size += int64(len(id))
		}
		for key, v := range a.Values {
			size += int64(len(key) + len(v))
		}
	}
	c.bytes = size
}

func (c *alertCols) appendTo(batch driver.Batch) error {
	return appendColumns(batch, []any{
		c.id, c.rule, c.state, c.severity, c.repID, c.teamID, c.managerID, c.summary,
		c.eventIDs, c.values, c.at, c.endsAt, c.version, c.ingestedAt,
	})
}
