package clickhouse

import (
	"bytes"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"

	"github.com/salespulse/salespulse/schemas"
)

// The columns of an insert are freed once appended to clickhouse-go's
// batch, before the send; a retry builds them again, to the same block.
// Columns of a group larger than maxPooledRows are not kept for reuse.
func TestColsInsertFreesColumnsAndRebuildsOnRetry(t *testing.T) {
	for _, n := range []int{100, maxPooledRows + 1} {
		s := &Sink{freeCols: make(chan *interactionCols, 2)}
		rows := genInteractions(7, n, day)
		o := batchOf("interactions.v1", 3, 1000, rows).Origin
		builds := 0
		size, fill, release := s.colsInsert(func(c *interactionCols) {
			builds++
			c.begin(len(rows))
			c.add(rows, o, day, false)
		}, false)
		if size <= 0 {
			t.Fatalf("%d rows: size %d", n, size)
		}
		var batches [2]*columnBatch
		for k := range batches {
			batch := newColumnBatch(t, interactionColumns)
			if err := fill(batch); err != nil {
				t.Fatal(err)
			}
			batches[k] = batch
			if cap(s.freeCols) > 0 && len(s.freeCols) > 0 {
				c := <-s.freeCols
				if c.rows() != 0 || len(c.runs) != 0 || c.runs[:cap(c.runs)][0] != nil || c.attributes[:cap(c.attributes)][0] != nil {
					t.Fatalf("%d rows: pooled columns not emptied", n)
				}
				for k := range c.lc {
					if e := &c.lc[k]; len(e.keys) != 0 || len(e.index) != 0 || cap(e.dict) > 0 && e.dict[:cap(e.dict)][0] != "" {
						t.Fatalf("%d rows: pooled LowCardinality column %d not emptied", n, k)
					}
				}
				if n > maxPooledRows {
					t.Fatalf("%d rows: columns of %d rows pooled", n, cap(c.version.vals))
				}
				s.freeCols <- c
			} else if n <= maxPooledRows {
				t.Fatalf("%d rows: columns not pooled after the append", n)
			}
		}
		release() // nothing left to free: a no-op
		if builds != 2 {
			t.Fatalf("%d rows: %d builds, want 2", n, builds)
		}
		// Each column's encoding; a Map column's rows instead, which it
		// encodes in map order.
		for k, a := range batches[0].cols {
			b := batches[1].cols[k]
			if a.Rows() != n || b.Rows() != n {
				t.Fatalf("%d rows: column %s has %d and %d rows", n, a.Name(), a.Rows(), b.Rows())
			}
			if _, ok := a.(*column.Map); ok {
				for r := range n {
					if !reflect.DeepEqual(a.Row(r, false), b.Row(r, false)) {
						t.Fatalf("%d rows: column %s row %d differs", n, a.Name(), r)
					}
				}
				continue
			}
			var ea, eb proto.Buffer
			a.Encode(&ea)
			b.Encode(&eb)
			if !bytes.Equal(ea.Buf, eb.Buf) {
				t.Fatalf("%d rows: column %s differs", n, a.Name())
			}
		}
	}
}

// A LowCardinality(String) column handed its dictionary and keys encodes to
// the bytes AppendRow gives it, whatever the values: empty strings, one
// value, keys wider than a byte; and the same holds for a whole
// late_events block, every column filled as appendTo fills it.
func TestLowCardinalityEncodingMatchesAppendRow(t *testing.T) {
	newCol := func() *column.LowCardinality {
		t.Helper()
		col, err := column.Type("LowCardinality(String)").Column("c", &column.ServerContext{})
		if err != nil {
			t.Fatal(err)
		}
		return col.(*column.LowCardinality)
	}
	f := func(name string, vals []string) {
		t.Helper()
		want, got := newCol(), newCol()
		for _, v := range vals {
			if err := want.AppendRow(v); err != nil {
				t.Fatal(err)
			}
		}
		if err := appendLowCardinalityEncoded(got, vals); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got.Rows() != len(vals) {
			t.Fatalf("%s: %d rows, want %d", name, got.Rows(), len(vals))
		}
		for r, v := range vals {
			if g := got.Row(r, false); g != v {
				t.Fatalf("%s: row %d is %q, want %q", name, r, g, v)
			}
		}
		if len(vals) > 0 && !bytes.Equal(encodeColumn(t, want), encodeColumn(t, got)) {
			t.Fatalf("%s: encoding differs from AppendRow's", name)
		}
	}
	f("no rows", nil)
	f("one value", []string{"call"})
	f("empty strings among values", []string{"", "email", "", "call", "email", ""})
	f("only empty strings", []string{"", "", ""})
	many := func(n int) []string {
		vals := make([]string, 0, 2*n)
		for k := range 2 * n {
			vals = append(vals, strconv.Itoa(k%n*7919))
		}
		return vals
	}
	f("254 distinct: one-byte keys", many(254))
	f("255 distinct: two-byte keys", many(255))
	f("70,000 distinct: four-byte keys", many(70_000))

	// Three runs of two batches, one run empty, as a group adds them. The
	// reference is every column as a slice, built here from the rows, and
	// appended through the driver's Append; appendTo takes the Append path
	// too for a column that already holds a row.
	rows := genInteractions(11, 3000, day)
	o1 := batchOf("interactions.v1", 3, 1000, rows[:1000]).Origin
	o2 := batchOf("interactions.v1", 7, 52_000, rows[1000:]).Origin
	ingested := day.Add(90 * time.Minute)
	var c interactionCols
	c.begin(len(rows))
	c.add(rows[:1000], o1, ingested, true)
	c.add(rows[1000:1000], o2, ingested, true)
	c.add(rows[1000:], o2, ingested, true)
	type I = schemas.Interaction
	originOf := func(k int) schemas.Origin {
		if k < 1000 {
			return o1
		}
		return o2
	}
	str := func(f func(*I) string) []string { return pick(rows, func(_ int, i *I) string { return f(i) }) }
	float := func(flag uint16, f func(*I) float64) []*float64 {
		return pick(rows, func(_ int, i *I) *float64 {
			if i.Has&flag == 0 {
				return nil
			}
			v := f(i)
			return &v
		})
	}
	wantCols := []any{
		str(func(i *I) string { return i.EventID }),
		pick(rows, func(_ int, i *I) time.Time { return i.OccurredAt }),
		str(func(i *I) string { return i.Source }),
		str(func(i *I) string { return i.Type.String() }),
		str(func(i *I) string { return i.Direction() }),
		str(func(i *I) string { return i.Channel.String() }),
		str(func(i *I) string { return i.RepID }),
		str(func(i *I) string { return i.TeamID }),
		str(func(i *I) string { return i.AccountID }),
		str(func(i *I) string { return i.LeadID }),
		str(func(i *I) string { return i.ApprovalID }),
		str(func(i *I) string { return i.ApproverID }),
		str(func(i *I) string { return i.Stage }),
		str(func(i *I) string { return i.Currency }),
		float(schemas.HasDuration, func(i *I) float64 { return i.DurationS }),
		float(schemas.HasAmount, func(i *I) float64 { return i.Amount }),
		float(schemas.HasListPrice, func(i *I) float64 { return i.ListPrice }),
		float(schemas.HasDiscount, func(i *I) float64 { return i.DiscountPct }),
		pick(rows, func(_ int, i *I) *bool {
			if i.Has&schemas.HasApproved == 0 {
				return nil
			}
			v := i.Approved
			return &v
		}),
		str(func(i *I) string { return i.ContactKey }),
		str(func(i *I) string { return i.Keys.Email }),
		str(func(i *I) string { return i.Keys.Phone }),
		str(func(i *I) string { return i.Keys.Mobile }),
		pick(rows, func(_ int, i *I) map[string]string { return i.Attributes }),
		pick(rows, func(int, *I) uint8 { return schemas.Version }),
		pick(rows, func(k int, _ *I) string { return originOf(k).Topic }),
		pick(rows, func(k int, _ *I) int32 { return originOf(k).Partition }),
		pick(rows, func(k int, _ *I) int64 { return originOf(k).FirstOffset }),
		pick(rows, func(k int, _ *I) int64 { return originOf(k).LastOffset }),
		pick(rows, func(int, *I) time.Time { return ingested }),
		pick(rows, func(int, *I) string { return LateReason }),
	}
	var nulls, approved, attrs int
	for k := range rows {
		if rows[k].Has&schemas.HasAmount == 0 {
			nulls++
		}
		if rows[k].Has&schemas.HasApproved != 0 {
			approved++
		}
		if len(rows[k].Attributes) > 0 {
			attrs++
		}
	}
	if nulls == 0 || nulls == len(rows) || approved == 0 || attrs == 0 {
		t.Fatalf("the rows do not cover the columns: %d without amount, %d approved, %d with attributes of %d", nulls, approved, attrs, len(rows))
	}
	for _, prefilled := range []bool{false, true} {
		want, got := newColumnBatch(t, lateColumns), newColumnBatch(t, lateColumns)
		if prefilled {
			// rep_id, type, amount and ingested_at hold a row before the
			// append: the Append path.
			one := 1.5
			for _, b := range []*columnBatch{want, got} {
				for k, v := range map[int]any{6: "kept", 3: "note", 15: &one, 29: day} {
					if err := b.Column(k).AppendRow(v); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		if err := c.appendTo(got, true); err != nil {
			t.Fatal(err)
		}
		for k, v := range wantCols {
			if err := want.Column(k).Append(v); err != nil {
				t.Fatal(err)
			}
		}
		for k, a := range want.cols {
			if _, ok := a.(*column.Map); ok {
				continue // encoded in map order; TestColsInsert… compares its rows
			}
			if !bytes.Equal(encodeColumn(t, a), encodeColumn(t, got.cols[k])) {
				t.Fatalf("prefilled %v: column %s differs", prefilled, a.Name())
			}
		}
	}
}

// pick is f of every row, with its index.
func pick[V any](rows []schemas.Interaction, f func(int, *schemas.Interaction) V) []V {
	out := make([]V, len(rows))
	for k := range rows {
		out[k] = f(k, &rows[k])
	}
	return out
}

// rowStringCols names the String columns of interactions, in the order
// rowStrings reads them.
func TestRowStringColumns(t *testing.T) {
	var names []string
	for _, k := range rowStringCols {
		if interactionColumns[k].Type != "String" {
			t.Fatalf("column %d %s is %s", k, interactionColumns[k].Name, interactionColumns[k].Type)
		}
		names = append(names, interactionColumns[k].Name)
	}
	var all []string
	for _, c := range interactionColumns {
		if c.Type == "String" {
			all = append(all, c.Name)
		}
	}
	if !slices.Equal(names, all) {
		t.Fatalf("rowStringCols %v, String columns %v", names, all)
	}
	i := schemas.Interaction{EventID: "event_id", RepID: "rep_id", TeamID: "team_id", AccountID: "account_id", LeadID: "lead_id",
		ApprovalID: "approval_id", ApproverID: "approver_id", ContactKey: "contact_key",
		Keys: schemas.ContactKeys{Email: "email_key", Phone: "phone_key", Mobile: "mobile_key"}}
	if got := rowStrings(&i); !slices.Equal(got[:], names) {
		t.Fatalf("rowStrings reads %v, columns are %v", got, names)
	}
}

// encodeColumn is col's Native encoding, state prefix included.
func encodeColumn(t *testing.T, col column.Interface) []byte {
	t.Helper()
	var buf proto.Buffer
	if s, ok := col.(column.CustomSerialization); ok {
		if err := s.WriteStatePrefix(&buf); err != nil {
			t.Fatal(err)
		}
	}
	col.Encode(&buf)
	return buf.Buf
}

// Every column type appendEncoded fills from its serialization ends up as
// Append leaves it: the same encoding (a Map column, which Append encodes
// in map order, the same rows), with nulls, zero and extreme values.
func TestEncodedColumnsMatchAppend(t *testing.T) {
	f := func(typ string, v any) {
		t.Helper()
		newCol := func() column.Interface {
			col, err := column.Type(typ).Column("c", &column.ServerContext{})
			if err != nil {
				t.Fatal(err)
			}
			return col
		}
		want, got := newCol(), newCol()
		if _, err := want.Append(v); err != nil {
			t.Fatal(err)
		}
		handled, err := appendEncoded(got, v)
		if !handled || err != nil {
			t.Fatalf("%s: handled %v, %v", typ, handled, err)
		}
		if got.Rows() != want.Rows() {
			t.Fatalf("%s: %d rows, want %d", typ, got.Rows(), want.Rows())
		}
		for r := range want.Rows() {
			if w, g := want.Row(r, false), got.Row(r, false); !reflect.DeepEqual(w, g) {
				t.Fatalf("%s: row %d is %v, want %v", typ, r, g, w)
			}
		}
		if _, ok := want.(*column.Map); !ok && !bytes.Equal(encodeColumn(t, want), encodeColumn(t, got)) {
			t.Fatalf("%s: encoding differs from Append's", typ)
		}
	}
	ptr := func(x float64) *float64 { return &x }
	yes, no := true, false
	at := time.Date(2026, 12, 5, 10, 30, 0, 123_456_789, time.UTC)
	f("Int64", []int64{0, -1, math.MaxInt64, math.MinInt64, 42})
	f("Int32", []int32{0, -1, math.MaxInt32, math.MinInt32, 7})
	f("UInt8", []uint8{0, 1, 255})
	f("DateTime64(3, 'UTC')", []time.Time{at, {}, time.UnixMilli(-1).UTC(), at.In(time.FixedZone("x", 3600))})
	f("DateTime64(6)", []time.Time{at, time.Unix(0, 0)})
	f("Nullable(Float64)", []*float64{nil, ptr(0), ptr(math.Copysign(0, -1)), ptr(1.5), ptr(math.Inf(-1)), nil})
	f("Nullable(Bool)", []*bool{nil, &yes, &no, nil})
	f("String", []string{"", "a", "héllo", strings.Repeat("x", 1000), ""})
	f("String", []string{})
	f("Map(String, String)", []map[string]string{nil, {}, {"a": "1"}, {"plan": "pro", "region": "", "": "x"}, nil})

	// Types it does not know are left to the caller.
	for _, c := range []struct {
		typ string
		v   any
	}{
		{"String", []int64{1}},
		{"Nullable(String)", []*float64{nil}},
		{"Map(String, UInt64)", []map[string]string{{"a": "1"}}},
		{"LowCardinality(Nullable(String))", []string{"a"}},
	} {
		col, err := column.Type(c.typ).Column("c", &column.ServerContext{})
		if err != nil {
			t.Fatal(err)
		}
		if handled, _ := appendEncoded(col, c.v); handled {
			t.Fatalf("%s: handled %T", c.typ, c.v)
		}
	}
}

// TestStringStorageFound fails when a clickhouse-go upgrade moves
// column.String's storage: String columns would then fall back to Append,
// correct but regrowing value by value (encode_string.go). It also checks
// that a column already holding rows keeps them.
func TestStringStorageFound(t *testing.T) {
	col, err := column.Type("String").Column("c", &column.ServerContext{})
	if err != nil {
		t.Fatal(err)
	}
	s := col.(*column.String)
	if stringStorage(s) == nil {
		t.Fatal("column.String has no field col of type proto.ColStr: String columns fall back to Append")
	}
	if _, err := s.Append([]string{"kept"}); err != nil {
		t.Fatal(err)
	}
	if !appendStrings(s, []string{"b", "cc"}) {
		t.Fatal("not handled")
	}
	var got []string
	for r := range s.Rows() {
		got = append(got, s.Row(r, false).(string))
	}
	if want := []string{"kept", "b", "cc"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("rows %q, want %q", got, want)
	}
}
