// Package clickhouse writes SalesPulse batches to ClickHouse with
// clickhouse-go/v2: columnar inserts, one per table per batch, each carrying
// an insert_deduplication_token derived from the batch's Kafka offsets, so a
// batch replayed after a crash is dropped by ClickHouse instead of counted
// twice — in the raw tables and in the materialized rollups fed by them.
//
// The same code serves a production server over the native protocol and
// the embedded chDB engine (package embedded/chdb) over HTTP.
package clickhouse

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sinks/clickhouse/migrate"
)

// Tables written by the sink (unqualified; always used as database.table).
const (
	TableInteractions = "interactions"
	TableLateEvents   = "late_events"
	TableAlerts       = "alerts"
)

// ErrUnknownAggregate is returned by Write for a Batch.Aggregates entry
// whose table has no column layout in this package, or whose rows are not
// that table's row type: a wiring bug, not retryable.
var ErrUnknownAggregate = errors.New("no column layout for aggregate table")

// NewSink returns these (wrapped) when the database's schema does not
// match this binary's; see package migrate.
var (
	ErrChecksumMismatch = migrate.ErrChecksumMismatch
	ErrNotMigrated      = migrate.ErrNotMigrated
)

// Sink writes batches to ClickHouse. It is safe for concurrent use: one
// Write per partition may run at once, bounded by max_open_conns.
type Sink struct {
	conn driver.Conn
	// groups carries the grouped inserts of raw interactions (nil with
	// grouping off), keeping at most one connection idle. clickhouse-go
	// keeps, per connection, the encoded block it last sent and its
	// compressed copy, at the capacity of the largest block the
	// connection ever sent; over HTTP nothing frees them
	// (FreeBufOnConnRelease is a no-op there), and its idle connections
	// are taken in turn. A group's block (~60,000 rows, ~25 MB encoded)
	// through the shared pool left two such buffers on each of its
	// max_open_conns connections: 80-200 MB of a 1M-event drain's peak
	// heap (benchmarks/README.md, "Memory"). Here at most the one idle
	// connection keeps them; the others close after their group.
	groups driver.Conn
	cfg    Config
	log    *slog.Logger
	m      *metrics

	interactionsInsert, lateInsert, alertsInsert string

	// Column buffers for reuse between Writes. Free lists rather than
	// sync.Pool: a 50k-row insert allocates enough inside clickhouse-go to
	// run the GC every batch or two, which empties a sync.Pool and would
	// make every Write rebuild its ~10 MB of column slices.
	freeCols   chan *interactionCols
	freeAlerts chan *alertCols

	kbiInserts map[string]string // table → INSERT with its columns (kbi_columns.go)
}

// NewSink connects to ClickHouse, checks it answers, and applies pending
// migrations (or, with migrate: false, checks they were applied). Retryable
// failures (server not up yet) are retried with backoff until ctx is done,
// so bound ctx to how long startup may wait.
func NewSink(ctx context.Context, cfg Config, reg prometheus.Registerer, logger *slog.Logger) (*Sink, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts, err := cfg.options()
	if err != nil {
		return nil, err
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("open clickhouse %v: %w", cfg.Addresses, err)
	}
	var groups driver.Conn
	if cfg.GroupMaxRows > 0 {
		g := *opts
		g.MaxIdleConns = 1
		if groups, err = clickhouse.Open(&g); err != nil {
			conn.Close()
			return nil, fmt.Errorf("open clickhouse %v: %w", cfg.Addresses, err)
		}
	}
	s := &Sink{
		conn:               conn,
		groups:             groups,
		cfg:                cfg,
		log:                logger.With("component", "clickhouse"),
		m:                  newMetrics(reg),
		interactionsInsert: insertQuery(cfg.Database, TableInteractions, interactionColumns),
		lateInsert:         insertQuery(cfg.Database, TableLateEvents, lateColumns),
		alertsInsert:       insertQuery(cfg.Database, TableAlerts, alertColumns),
		kbiInserts:         map[string]string{},
	}
	for table, l := range kbiLayouts {
		s.kbiInserts[table] = insertQuery(cfg.Database, table, l.cols)
	}
	s.freeCols = make(chan *interactionCols, cfg.MaxOpenConns)
	s.freeAlerts = make(chan *alertCols, cfg.MaxOpenConns)
	err = s.withRetry(ctx, "startup", func() error {
		if err := s.conn.Ping(ctx); err != nil {
			return fmt.Errorf("ping %v: %w", cfg.Addresses, err)
		}
		return migrate.Run(ctx, s.conn, migrate.Options{Database: cfg.Database, Cluster: cfg.Cluster,
			Apply: *cfg.Migrate, Clock: cfg.Clock, Log: s.log})
	})
	if err != nil {
		s.Close()
		return nil, err
	}
	s.log.Info("clickhouse sink ready", "addresses", cfg.Addresses, "protocol", cfg.Protocol,
		"database", cfg.Database, "cluster", cfg.Cluster)
	return s, nil
}

// Write stores b: its interactions, late events, alerts and aggregate rows,
// one insert per non-empty table. It returns nil only when every insert was
// acknowledged by ClickHouse. Retryable failures are retried with jittered
// backoff until ctx is done; then the context error is returned (wrapping
// the last failure), and nothing is claimed stored. Non-retryable errors are
// returned at once.
//
// Write is safe to repeat with the same batch (same Origin): inserts that
// had succeeded are dropped as duplicates by ClickHouse, in the raw tables
// and in the rollups — provided the repeat comes within each table's dedup
// window (the last 10000 inserts per table). It does not keep b or its
// slices after returning.
func (s *Sink) Write(ctx context.Context, b *schemas.Batch) error {
	return s.write(ctx, b, true, false)
}

// Derived is the sink of a pipeline whose interactions another pipeline
// stored already (the KBI pipeline behind the lead topics, whose input the
// ingest pipeline wrote as raw rows): it writes what the stages derived
// from a batch (late events, alerts, KBI facts), not b.Interactions. Like
// Grouped, it inserts the KBI facts of many batches together where the
// table allows (docs/fault-tolerance.md rule 4).
func (s *Sink) Derived() *GroupedSink { return s.newGrouped(false) }

// write inserts b's rows, one insert per table under b's own token: the
// raw interactions too when raw, and, when grouped, only the tables a
// GroupedSink does not insert together with other batches'.
func (s *Sink) write(ctx context.Context, b *schemas.Batch, raw, grouped bool) error {
	s.m.inFlight.Inc()
	defer s.m.inFlight.Dec()
	ingested := s.cfg.Clock().UTC()
	if raw && len(b.Interactions) > 0 {
		if err := s.writeInteractions(ctx, TableInteractions, s.interactionsInsert, interactionColumns, b.Interactions, b.Origin, ingested, false); err != nil {
			return err
		}
	}
	if len(b.Late) > 0 {
		if err := s.writeInteractions(ctx, TableLateEvents, s.lateInsert, lateColumns, b.Late, b.Origin, ingested, true); err != nil {
			return err
		}
	}
	if len(b.Alerts) > 0 && !grouped {
		c := getFree(s.freeAlerts)
		c.fill(b.Alerts, ingested)
		err := s.insert(ctx, TableAlerts, s.alertsInsert, alertColumns, b.Origin, len(b.Alerts), c.bytes, c.appendTo)
		c.fill(nil, time.Time{}) // drop references to the batch before reuse
		putFree(s.freeAlerts, c)
		if err != nil {
			return err
		}
	}
	for _, a := range b.Aggregates {
		l, ok := kbiLayouts[a.Table]
		if !ok {
			return fmt.Errorf("write %s: %q: %w", b.Origin, a.Table, ErrUnknownAggregate)
		}
		if grouped && l.group.class != perBatch {
			continue
		}
		err := s.insert(ctx, a.Table, s.kbiInserts[a.Table], l.cols, b.Origin, -1, 0, func(batch driver.Batch) error {
			return l.fill(batch, a.Rows, []originRun{{b.Origin, a.Rows.Len()}})
		})
		if err != nil {
			return err
		}
		s.m.rows.WithLabelValues(a.Table).Add(float64(a.Rows.Len()))
	}
	return nil
}

func (s *Sink) writeInteractions(ctx context.Context, table, query string, cols []clickhouse.ColumnNameAndType,
	rows []schemas.Interaction, o schemas.Origin, ingested time.Time, late bool) error {
	bytes, fill, release := s.colsInsert(func(c *interactionCols) { c.fill(rows, o, ingested, late) }, late)
	defer release()
	return s.insert(ctx, table, query, cols, o, len(rows), bytes, fill)
}

// colsInsert builds interaction columns with build and returns their
// estimated size and the insert's fill, which appends them to the batch
// and frees them: clickhouse-go's batch holds a copy of every value, and
// the send that follows takes seconds for a group. A retry's fill builds
// them again. release frees them if no fill ran; call it once the insert
// is done.
func (s *Sink) colsInsert(build func(*interactionCols), late bool) (bytes int64, fill func(driver.Batch) error, release func()) {
	c := getFree(s.freeCols)
	build(c)
	fill = func(batch driver.Batch) error {
		if c == nil { // a retry
			c = getFree(s.freeCols)
			build(c)
		}
		err := c.appendTo(batch, late)
		s.putCols(c)
		c = nil
		return err
	}
	return c.bytes, fill, func() { s.putCols(c); c = nil }
}

// maxPooledRows bounds the interaction columns kept for reuse, in rows of
// capacity. A batch (kafka.batch_max_rows, 20,000 by default) fits; the
// columns of a grouped insert (up to group_max_rows, 150,000) do not: they
// are made for the group and dropped after its append. Pooled, each set
// kept the capacity of the largest group it had held (~450 bytes of
// column entries per row then, ~115 now; 27+ MB for a group of 60,000
// rows then) for good, one set per concurrent insert
// (benchmarks/README.md, "Memory").
const maxPooledRows = 1 << 15

// putCols empties c (no references to the batches' strings and maps stay)
// and keeps it for reuse unless it is nil or larger than maxPooledRows.
func (s *Sink) putCols(c *interactionCols) {
	if c == nil {
		return
	}
	c.reset()
	if cap(c.version.vals) <= maxPooledRows { // one byte per row
		putFree(s.freeCols, c)
	}
}

// getFree takes a buffer from a free list, or makes one.
func getFree[T any](free chan *T) *T {
	select {
	case c := <-free:
		return c
	default:
		return new(T)
	}
}

// putFree returns a buffer to a free list, dropping it when the list is full.
func putFree[T any](free chan *T, c *T) {
	select {
	case free <- c:
	default:
	}
}

// insertSettings are sent with every insert. async_insert is pinned off
// because ClickHouse >= 26.2 enables it by default, and an async insert is
// acknowledged before it is durable and deduplicated differently.
func insertSettings(token string) clickhouse.Settings {
	return clickhouse.Settings{
		"insert_deduplication_token":                         token,
		"insert_deduplicate":                                 1,
		"deduplicate_blocks_in_dependent_materialized_views": 1,
		"async_insert":                                       0,
	}
}

// insert runs one columnar insert with retries. rows < 0 means unknown
// (the caller counts them); cols nil means clickhouse-go learns the columns
// from the server.
func (s *Sink) insert(ctx context.Context, table, query string, cols []clickhouse.ColumnNameAndType,
	o schemas.Origin, rows int, bytes int64, fill func(driver.Batch) error) error {
	return s.insertWith(ctx, s.conn, table, query, cols, o.String(), insertSettings(o.DedupToken(table)), rows, bytes, fill)
}

// insertWith is insert with the settings (the dedup token among them)
// given; what names the rows in errors.
func (s *Sink) insertWith(ctx context.Context, conn driver.Conn, table, query string, cols []clickhouse.ColumnNameAndType,
	what string, settings clickhouse.Settings, rows int, bytes int64, fill func(driver.Batch) error) error {
	opts := []clickhouse.QueryOption{clickhouse.WithSettings(settings)}
	if cols != nil {
		opts = append(opts, clickhouse.WithColumnNamesAndTypes(cols))
	}
	qctx := clickhouse.Context(ctx, opts...)
	hist := s.m.insertSeconds.WithLabelValues(table)
	err := s.withRetry(ctx, table, func() error {
		start := time.Now()
		if err := s.insertOnce(qctx, conn, query, fill); err != nil {
			return err
		}
		hist.Observe(time.Since(start).Seconds())
		return nil
	})
	if err != nil {
		return fmt.Errorf("insert %s into %s.%s: %w", what, s.cfg.Database, table, err)
	}
	if rows >= 0 {
		s.m.rows.WithLabelValues(table).Add(float64(rows))
		s.m.bytes.WithLabelValues(table).Add(float64(bytes))
	}
	return nil
}

func (s *Sink) insertOnce(ctx context.Context, conn driver.Conn, query string, fill func(driver.Batch) error) error {
	batch, err := conn.PrepareBatch(ctx, query)
	if err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	// Close after Send is a no-op; on an error path it releases the
	// connection without sending a partial block.
	defer batch.Close()
	if err := fill(batch); err != nil {
		return err
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	return nil
}

// withRetry runs op until it succeeds, fails with a non-retryable error, or
// ctx is done. It keeps salespulse_clickhouse_up and the retry and failure
// counters.
func (s *Sink) withRetry(ctx context.Context, table string, op func() error) error {
	for attempt := 0; ; attempt++ {
		err := op()
		if err == nil {
			s.m.up.Set(1)
			if attempt > 0 {
				s.log.Info("clickhouse recovered", "table", table, "attempts", attempt+1)
			}
			return nil
		}
		if unreachable(err) {
			s.m.up.Set(0)
		} else {
			// The server answered, if only with an error.
			s.m.up.Set(1)
		}
		code := errCode(err)
		if ctx.Err() != nil {
			s.m.failures.WithLabelValues(table, "context").Inc()
			return fmt.Errorf("gave up after %d attempts: %w (last error: %w)", attempt+1, ctx.Err(), err)
		}
		if !retryable(err) {
			s.m.failures.WithLabelValues(table, code).Inc()
			return err
		}
		s.m.retries.WithLabelValues(table, code).Inc()
		wait := backoff(attempt, s.cfg.RetryBackoffMin, s.cfg.RetryBackoffMax)
		s.log.LogAttrs(ctx, slog.LevelWarn, "clickhouse attempt failed; retrying",
			slog.String("table", table), slog.Int("attempt", attempt+1), slog.String("code", code),
			slog.Duration("wait", wait), slog.Any("err", err))
		if err := sleep(ctx, wait); err != nil {
			s.m.failures.WithLabelValues(table, "context").Inc()
			return fmt.Errorf("gave up after %d attempts: %w (last error: %w)", attempt+1, ctx.Err(), err)
		}
	}
}

// EraseSubject deletes, for GDPR erasure, every row whose contact_key,
// email_key, phone_key or mobile_key is one of keys from every table
// holding them (interactions and late_events): a subject whose contact key
// came from the e-mail is also found where only the phone named them. It
// returns how many rows matched before deletion. It uses
// ALTER TABLE ... DELETE with mutations_sync = 2, so when it returns nil the
// rows are physically rewritten out of their parts on every replica, not
// merely masked. It then checks that no matching row is left.
//
// The count is of rows visible on the server the sink is connected to; in a
// sharded cluster the deletion runs ON CLUSTER but the count covers one
// shard. Rollups hold no contact data and are left alone. Mutations are
// heavy: erase in bulk (thousands of keys per call), not per request.
func (s *Sink) EraseSubject(ctx context.Context, keys []string) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	onCluster := ""
	if s.cfg.Cluster != "" {
		onCluster = " ON CLUSTER `" + s.cfg.Cluster + "`"
	}
	mctx := clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"mutations_sync": 2}))
	total := 0
	const chunk = 1000
	for start := 0; start < len(keys); start += chunk {
		in := stringList(keys[start:min(start+chunk, len(keys))])
		for _, table := range []string{TableInteractions, TableLateEvents} {
			t := s.cfg.Database + "." + table
			where := " WHERE contact_key IN (" + in + ") OR email_key IN (" + in + ") OR phone_key IN (" + in +
				") OR mobile_key IN (" + in + ")"
			var n uint64
			if err := s.conn.QueryRow(ctx, "SELECT count() FROM "+t+where).Scan(&n); err != nil {
				return total, fmt.Errorf("erase subject: count %s: %w", t, err)
			}
			if n == 0 {
				continue
			}
			if err := s.conn.Exec(mctx, "ALTER TABLE "+t+onCluster+" DELETE"+where); err != nil {
				return total, fmt.Errorf("erase subject: delete %d rows from %s: %w", n, t, err)
			}
			total += int(n)
			if err := s.conn.QueryRow(ctx, "SELECT count() FROM "+t+where).Scan(&n); err != nil {
				return total, fmt.Errorf("erase subject: verify %s: %w", t, err)
			}
			if n != 0 {
				return total, fmt.Errorf("erase subject: %d rows still in %s after the mutation", n, t)
			}
		}
	}
	s.log.Info("erased subjects", "keys", len(keys), "rows", total)
	return total, nil
}

// stringList renders keys as a ClickHouse list of string literals. The
// keys are pseudonyms, but they are quoted properly anyway: this string is
// SQL.
func stringList(keys []string) string {
	var b strings.Builder
	for k, key := range keys {
		if k > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('\'')
		for i := 0; i < len(key); i++ {
			switch c := key[i]; c {
			case '\\', '\'':
				b.WriteByte('\\')
				b.WriteByte(c)
			default:
				b.WriteByte(c)
			}
		}
		b.WriteByte('\'')
	}
	return b.String()
}

// StoredOrigins returns the Kafka origin of every batch with rows stored
// in the raw tables (interactions and late_events) for the given
// partitions of topic: the cut history the Kafka source replays when it
// consumes offsets without its own commit metadata (a new consumer group,
// offsets reset by a tool), so the replay sends the same dedup tokens.
//
// Every raw row carries its batch's topic, partition and offset range, so
// the history is exactly what is stored, written by the same inserts, and
// needs no table of its own. A batch that stored no raw rows (all its
// records dead-lettered or skipped) leaves no trace; the source cuts such
// a gap as one batch. The query scans the raw tables' offset columns; it
// runs only when a partition is assigned without commit metadata.
// Retryable failures are retried until ctx is done.
func (s *Sink) StoredOrigins(ctx context.Context, topic string, partitions []int32) ([]schemas.Origin, error) {
	if len(partitions) == 0 {
		return nil, nil
	}
	var in strings.Builder
	for k, p := range partitions {
		if k > 0 {
			in.WriteString(", ")
		}
		in.WriteString(strconv.Itoa(int(p)))
	}
	where := " WHERE kafka_topic = ? AND kafka_partition IN (" + in.String() + ")"
	cols := "SELECT kafka_partition, kafka_first_offset, kafka_last_offset FROM "
	q := "SELECT kafka_partition, kafka_first_offset, kafka_last_offset FROM (" +
		cols + s.cfg.Database + "." + TableInteractions + where +
		" UNION ALL " + cols + s.cfg.Database + "." + TableLateEvents + where +
		") GROUP BY kafka_partition, kafka_first_offset, kafka_last_offset" +
		" ORDER BY kafka_partition, kafka_first_offset, kafka_last_offset"
	var out []schemas.Origin
	err := s.withRetry(ctx, "history", func() error {
		out = out[:0]
		rows, err := s.conn.Query(ctx, q, topic, topic)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			o := schemas.Origin{Topic: topic}
			if err := rows.Scan(&o.Partition, &o.FirstOffset, &o.LastOffset); err != nil {
				return err
			}
			out = append(out, o)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("read stored origins of %s: %w", topic, err)
	}
	return out, nil
}

// Ping checks that ClickHouse answers; readiness probes call it.
func (s *Sink) Ping(ctx context.Context) error {
	if err := s.conn.Ping(ctx); err != nil {
		return fmt.Errorf("ping clickhouse: %w", err)
	}
	return nil
}

// Close closes the connections. Call it after the last Write returned.
func (s *Sink) Close() error {
	err := s.conn.Close()
	if s.groups != nil {
		err = errors.Join(err, s.groups.Close())
	}
	if err != nil {
		return fmt.Errorf("close clickhouse: %w", err)
	}
	return nil
}

// ErrNoAlert: no lead alert has the id (AlertLead).
var ErrNoAlert = errors.New("no lead alert with this id")

// AlertLead returns the lead of the lead-response alert id (its
// values['lead_id']), for acknowledgements that name only the alert;
// ErrNoAlert when the alerts table holds no such alert. Every row of an
// id names the same lead, so any row answers; the rule filter reads only
// the two rules' part of the ORDER BY (rule, id) index.
func (s *Sink) AlertLead(ctx context.Context, id string) (string, error) {
	var lead string
	err := s.conn.QueryRow(ctx, "SELECT `values`['lead_id'] FROM "+s.cfg.Database+"."+TableAlerts+
		" WHERE rule IN ('lead_response_sla', 'lead_response_sla_escalated') AND id = ? LIMIT 1", id).Scan(&lead)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", fmt.Errorf("alert %s: %w", id, ErrNoAlert)
	case err != nil:
		return "", fmt.Errorf("look up alert %s: %w", id, err)
	case lead == "":
		return "", fmt.Errorf("alert %s: %w", id, ErrNoAlert)
	}
	return lead, nil
}
