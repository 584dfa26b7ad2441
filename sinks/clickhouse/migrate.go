package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/template"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/salespulse/salespulse/schemas"
)

// ErrChecksumMismatch means a migration recorded as applied differs from
// the one compiled into this binary: somebody edited an applied file. The
// sink refuses to start rather than guess which schema is real.
var ErrChecksumMismatch = errors.New("applied migration differs from this binary's")

// ErrNotMigrated is returned by NewSink with migrate: false when a
// migration this binary needs has not been applied.
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

// migrate brings the database to the newest schema this binary knows:
// migrations not yet recorded in schema_migrations are applied in order,
// each recorded after all its statements succeeded. With apply false it
// only checks. Migrations recorded but unknown here were applied by a newer
// binary during a rolling upgrade; they are additive, so this one carries
// on and logs them.
func (s *Sink) migrate(ctx context.Context, apply bool) error {
	r := renderer{DB: s.cfg.Database, Cluster: s.cfg.Cluster}
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
			if err := s.conn.Exec(ddl, q); err != nil {
				return fmt.Errorf("migration %s: %w\n%s", name, err, q)
			}
		}
		return nil
	}
	if apply {
		if err := exec("bootstrap", bootstrapSQL); err != nil {
			return err
		}
	}
	applied, err := s.appliedMigrations(ctx)
	if err != nil {
		return err
	}
	known := schemas.Migrations()
	for _, m := range known {
		a, ok := applied[m.Version]
		switch {
		case ok && a.checksum != m.Checksum:
			return fmt.Errorf("migrate %s: %03d_%s: %w (recorded %s as %q, binary has %s)",
				s.cfg.Database, m.Version, m.Name, ErrChecksumMismatch, a.checksum, a.name, m.Checksum)
		case ok:
			continue
		case !apply:
			return fmt.Errorf("check %s: %03d_%s: %w", s.cfg.Database, m.Version, m.Name, ErrNotMigrated)
		}
		if err := exec(fmt.Sprintf("%03d_%s", m.Version, m.Name), m.SQL); err != nil {
			return err
		}
		if err := s.conn.Exec(ctx, fmt.Sprintf(
			"INSERT INTO %s.schema_migrations (version, name, checksum, applied_at) SETTINGS async_insert = 0 VALUES (?, ?, ?, ?)",
			s.cfg.Database), uint32(m.Version), m.Name, m.Checksum, s.cfg.Clock().UTC()); err != nil {
			return fmt.Errorf("record migration %03d_%s: %w", m.Version, m.Name, err)
		}
		s.log.Info("applied migration", "database", s.cfg.Database, "version", m.Version, "name", m.Name, "cluster", s.cfg.Cluster)
	}
	for v, a := range applied {
		if v > len(known) {
			s.log.Warn("database has a migration this binary does not know (newer binary?)", "version", v, "name", a.name)
		}
	}
	return nil
}

func (s *Sink) appliedMigrations(ctx context.Context) (map[int]appliedMigration, error) {
	rows, err := s.conn.Query(ctx, fmt.Sprintf(
		"SELECT version, name, checksum FROM %s.schema_migrations FINAL ORDER BY version", s.cfg.Database))
	if err != nil {
		return nil, fmt.Errorf("read %s.schema_migrations: %w", s.cfg.Database, err)
	}
	defer rows.Close()
	out := map[int]appliedMigration{}
	for rows.Next() {
		var v uint32
		var a appliedMigration
		if err := rows.Scan(&v, &a.name, &a.checksum); err != nil {
			return nil, fmt.Errorf("read %s.schema_migrations: %w", s.cfg.Database, err)
		}
		out[int(v)] = a
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s.schema_migrations: %w", s.cfg.Database, err)
	}
	return out, nil
}
