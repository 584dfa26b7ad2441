// Package migrate brings a ClickHouse database to the schema this binary
// was built with: the numbered migrations of package schemas, rendered for
// one database and (optionally) one cluster, applied in order and recorded
// in schema_migrations with their checksums. The ClickHouse sink runs it at
// start (migrate: true), or only checks (migrate: false).
package migrate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"text/template"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/salespulse/salespulse/schemas"
)

// ErrChecksumMismatch means a migration recorded as applied differs from
// the one compiled into this binary: somebody edited an applied file. The
// sink refuses to start rather than guess which schema is real.
var ErrChecksumMismatch = errors.New("applied migration differs from this binary's")

// ErrNotMigrated is returned by Run with Apply false (the sink's
// migrate: false) when a migration this binary needs has not been applied.
var ErrNotMigrated = errors.New("schema migration not applied")

// bootstrapSQL creates what the migration runner itself needs. It is not a
// numbered migration because reading schema_migrations must work before
// migration 1. ReplacingMergeTree by version, read with FINAL, because two
// instances starting together may both apply and record a migration (all
// DDL is IF NOT EXISTS, so that is harmless).
const bootstrapSQL = `CREATE DATABASE IF NOT EXISTS {{.DB}} {{onCluster}};
CREATE TABLE IF NOT EXISTS {{.DB}}.schema_migrations {{onCluster}}
(
    version    UInt32,
    name       String,
    checksum   String,
    applied_at DateTime64(3, 'UTC')
)
ENGINE = {{mergeTree "ReplacingMergeTree" "applied_at"}}
ORDER BY version;
`

// renderer expands migration templates for one database and cluster.
type renderer struct {
	DB      string
	Cluster string
}

func (r renderer) funcs() template.FuncMap {
	return template.FuncMap{
		// onCluster is " ON CLUSTER `name`" with a cluster, else nothing.
		"onCluster": func() string {
			if r.Cluster == "" {
				return ""
			}
			return "ON CLUSTER `" + r.Cluster + "`"
		},
		// mergeTree "ReplacingMergeTree" "ingested_at" renders the engine,
		// Replicated* with the conventional Keeper path when clustered.
		"mergeTree": func(engine string, args ...string) string {
			if r.Cluster == "" {
				return engine + "(" + strings.Join(args, ", ") + ")"
			}
			all := append([]string{"'/clickhouse/tables/{shard}/{database}/{table}'", "'{replica}'"}, args...)
			return "Replicated" + engine + "(" + strings.Join(all, ", ") + ")"
		},
		// dedupWindow n keeps the last n insert block ids per table, which is
		// what makes a replayed insert_deduplication_token a no-op. Plain
		// MergeTree keeps none by default.
		"dedupWindow": func(n int) string {
			if r.Cluster == "" {
				return fmt.Sprintf("non_replicated_deduplication_window = %d", n)
			}
			return fmt.Sprintf("replicated_deduplication_window = %d", n)
		},
	}
}

// render expands a migration template and splits it into statements (one
// per ';' at the end of a line; the HTTP interface takes one per request).
func (r renderer) render(name, src string) ([]string, error) {
	t, err := template.New(name).Option("missingkey=error").Funcs(r.funcs()).Parse(src)
	if err != nil {
		return nil, fmt.Errorf("parse migration %s: %w", name, err)
	}
	var b strings.Builder
	if err := t.Execute(&b, r); err != nil {
		return nil, fmt.Errorf("render migration %s: %w", name, err)
	}
	var out []string
	for _, stmt := range strings.Split(b.String(), ";\n") {
		if s := strings.TrimSpace(stripComments(stmt)); s != "" {
			out = append(out, strings.TrimSuffix(s, ";"))
		}
	}
	return out, nil
}

// stripComments drops whole-line "--" comments so a trailing comment block
// does not become an empty statement.
func stripComments(s string) string {
	lines := strings.Split(s, "\n")
	keep := lines[:0]
	for _, l := range lines {
		if !strings.HasPrefix(strings.TrimSpace(l), "--") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

type appliedMigration struct {
	name, checksum string
}

// Conn is what Run needs of a ClickHouse connection (a driver.Conn).
type Conn interface {
	Exec(ctx context.Context, query string, args ...any) error
	Query(ctx context.Context, query string, args ...any) (driver.Rows, error)
}

// Options say where and how Run migrates.
type Options struct {
	Database string
	Cluster  string // "": a single server
	// Apply applies pending migrations; false only checks they were
	// applied (ErrNotMigrated otherwise).
	Apply bool
	// Clock stamps applied_at. Default time.Now.
	Clock func() time.Time
	// Log reports applied and unknown migrations. Default: discarded.
	Log *slog.Logger
}

// Statements renders the bootstrap and every migration for one database
// and cluster, in the order Run executes them.
func Statements(database, cluster string) ([]string, error) {
	r := renderer{DB: database, Cluster: cluster}
	out, err := r.render("bootstrap", bootstrapSQL)
	if err != nil {
		return nil, err
	}
	for _, m := range schemas.Migrations() {
		stmts, err := r.render(fmt.Sprintf("%03d_%s", m.Version, m.Name), m.SQL)
		if err != nil {
			return nil, err
		}
		out = append(out, stmts...)
	}
	return out, nil
}

// Run brings the database to the newest schema this binary knows:
// migrations not yet recorded in schema_migrations are applied in order,
// each recorded after all its statements succeeded. With o.Apply false it
// only checks. Migrations recorded but unknown here were applied by a newer
// binary during a rolling upgrade; they are additive, so this one carries
// on and logs them.
func Run(ctx context.Context, conn Conn, o Options) error {
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	r := renderer{DB: o.Database, Cluster: o.Cluster}
	ddl := clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{
		// ON CLUSTER DDL waits for every host, so a migration is complete
		// when it returns.
		"distributed_ddl_output_mode": "throw",
	}))
	exec := func(name, src string) error {
		stmts, err := r.render(name, src)
		if err != nil {
			return err
		}
		for _, q := range stmts {
			if err := conn.Exec(ddl, q); err != nil {
				return fmt.Errorf("migration %s: %w\n%s", name, err, q)
			}
		}
		return nil
	}
	if o.Apply {
		if err := exec("bootstrap", bootstrapSQL); err != nil {
			return err
		}
	}
	applied, err := appliedMigrations(ctx, conn, o.Database)
	if err != nil {
		return err
	}
	known := schemas.Migrations()
	for _, m := range known {
		a, ok := applied[m.Version]
		switch {
		case ok && a.checksum != m.Checksum:
			return fmt.Errorf("migrate %s: %03d_%s: %w (recorded %s as %q, binary has %s)",
				o.Database, m.Version, m.Name, ErrChecksumMismatch, a.checksum, a.name, m.Checksum)
		case ok:
			continue
		case !o.Apply:
			return fmt.Errorf("check %s: %03d_%s: %w", o.Database, m.Version, m.Name, ErrNotMigrated)
		}
		if err := exec(fmt.Sprintf("%03d_%s", m.Version, m.Name), m.SQL); err != nil {
			return err
		}
		if err := conn.Exec(ctx, fmt.Sprintf(
			"INSERT INTO %s.schema_migrations (version, name, checksum, applied_at) SETTINGS async_insert = 0 VALUES (?, ?, ?, ?)",
			o.Database), uint32(m.Version), m.Name, m.Checksum, o.Clock().UTC()); err != nil {
			return fmt.Errorf("record migration %03d_%s: %w", m.Version, m.Name, err)
		}
		o.Log.Info("applied migration", "database", o.Database, "version", m.Version, "name", m.Name, "cluster", o.Cluster)
	}
	for v, a := range applied {
		if v > len(known) {
			o.Log.Warn("database has a migration this binary does not know (newer binary?)", "version", v, "name", a.name)
		}
	}
	return nil
}

func appliedMigrations(ctx context.Context, conn Conn, db string) (map[int]appliedMigration, error) {
	rows, err := conn.Query(ctx, fmt.Sprintf(
		"SELECT version, name, checksum FROM %s.schema_migrations FINAL ORDER BY version", db))
	if err != nil {
		return nil, fmt.Errorf("read %s.schema_migrations: %w", db, err)
	}
	defer rows.Close()
	out := map[int]appliedMigration{}
	for rows.Next() {
		var v uint32
		var a appliedMigration
		if err := rows.Scan(&v, &a.name, &a.checksum); err != nil {
			return nil, fmt.Errorf("read %s.schema_migrations: %w", db, err)
		}
		out[int(v)] = a
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s.schema_migrations: %w", db, err)
	}
	return out, nil
}
