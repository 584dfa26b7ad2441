package schemas

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// migrationFiles holds the ClickHouse DDL, one file per schema version,
// named NNN_name.sql.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migration is one versioned step of the ClickHouse schema.
//
// SQL is a text/template source, not runnable SQL: the ClickHouse sink
// renders it with the database name ({{.DB}}) and the helpers onCluster,
// mergeTree and dedupWindow, which expand to ON CLUSTER and Replicated*
// engines when a cluster is configured. Statements are separated by a ';' at
// the end of a line. Every statement must be idempotent (IF NOT EXISTS): a
// crash between a statement and the migration's bookkeeping row re-runs the
// whole file.
//
// An applied migration must never be edited: the sink compares Checksum
// with the one recorded when it was applied and refuses to start on a
// mismatch. Change the schema by adding a file with the next number.
type Migration struct {
	Version  int    // NNN from the file name, starting at 1, without gaps
	Name     string // the file name's rest without ".sql", e.g. "interactions"
	SQL      string // text/template source
	Checksum string // hex SHA-256 of SQL
}

// migrations is parsed once; the embedded files cannot change at run time.
var migrations = mustLoadMigrations(migrationFiles)

// Migrations returns every migration in version order. The slice is a copy;
// callers may keep it.
func Migrations() []Migration { return slices.Clone(migrations) }

func mustLoadMigrations(fsys fs.FS) []Migration {
	ms, err := loadMigrations(fsys)
	if err != nil {
		// The files are compiled in: a bad name is a build mistake that every
		// test catches, never a run-time condition.
		panic(err)
	}
	return ms
}

func loadMigrations(fsys fs.FS) ([]Migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	out := make([]Migration, 0, len(names))
	for _, p := range names {
		base := strings.TrimSuffix(path.Base(p), ".sql")
		num, name, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || len(num) != 3 || name == "" {
			return nil, fmt.Errorf("load migration %s: name must be NNN_name.sql", p)
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, fmt.Errorf("load migration %s: %w", p, err)
		}
		sum := sha256.Sum256(b)
		out = append(out, Migration{Version: v, Name: name, SQL: string(b), Checksum: hex.EncodeToString(sum[:])})
	}
	slices.SortFunc(out, func(a, b Migration) int { return a.Version - b.Version })
	for k, m := range out {
		if m.Version != k+1 {
			return nil, fmt.Errorf("load migration %03d_%s: versions must run 1, 2, 3... without gaps or repeats", m.Version, m.Name)
		}
	}
	return out, nil
}
