package migrate

import (
	"regexp"
	"strings"
	"testing"

	"github.com/salespulse/salespulse/schemas"
)

func TestMigrationsAreNumberedAndChecksummed(t *testing.T) {
	ms := schemas.Migrations()
	if len(ms) < 4 {
		t.Fatalf("%d migrations", len(ms))
	}
	for k, m := range ms {
		if m.Version != k+1 || m.Name == "" || len(m.Checksum) != 64 || m.SQL == "" {
			t.Fatalf("migration %d: %+v", k, m)
		}
	}
	ms[0].SQL = "changed"
	if schemas.Migrations()[0].SQL == "changed" {
		t.Fatal("Migrations returns shared state")
	}
}

var (
	// CREATE OR REPLACE VIEW is idempotent too: a view holds no data.
	createRe = regexp.MustCompile(`(?s)^CREATE (?:(?:TABLE|MATERIALIZED VIEW|VIEW|DATABASE) IF NOT EXISTS|OR REPLACE VIEW) (\w+)(\.\w+)?`)
	alterRe  = regexp.MustCompile(`^ALTER TABLE (\w+)\.\w+\s`)
	// A backfill copies once: it runs only while its target is empty.
	backfillRe = regexp.MustCompile(`(?s)^INSERT INTO (\w+)(\.\w+)\s.*\(SELECT count\(\) FROM (\w+)(\.\w+)\) = 0`)
	// Projections: ADD ... IF NOT EXISTS, and MATERIALIZE rebuilds one.
	projectionRe = regexp.MustCompile(`(?:ADD PROJECTION IF NOT EXISTS|MATERIALIZE PROJECTION) \w+`)
)

// allStatements renders the bootstrap and every migration.
func allStatements(t *testing.T, database, cluster string) []string {
	t.Helper()
	out, err := Statements(database, cluster)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRenderSingleServer(t *testing.T) {
	stmts := allStatements(t, "sp", "")
	// The database and schema_migrations, then one statement per CREATE
	// or ALTER TABLE in the migration files: nothing rendered away, nothing
	// invented.
	want := 2
	for _, m := range schemas.Migrations() {
		want += strings.Count(strings.ToUpper(m.SQL), "CREATE ") + strings.Count(strings.ToUpper(m.SQL), "ALTER TABLE ") +
			strings.Count(strings.ToUpper(m.SQL), "INSERT INTO ")
	}
	if len(stmts) != want {
		t.Fatalf("%d statements, want %d:\n%s", len(stmts), want, strings.Join(stmts, "\n---\n"))
	}
	for _, s := range stmts {
		if m := backfillRe.FindStringSubmatch(s); m != nil {
			if m[1] != "sp" || m[3] != "sp" || m[2] != m[4] {
				t.Errorf("backfill not guarded by its own target being empty, in database sp:\n%s", s)
			}
		} else if m := alterRe.FindStringSubmatch(s); m != nil && projectionRe.MatchString(s) {
			if m[1] != "sp" {
				t.Errorf("projection outside database sp:\n%s", s)
			}
		} else if m := alterRe.FindStringSubmatch(s); m != nil {
			if add := strings.Count(s, "ADD COLUMN "); m[1] != "sp" || add == 0 || add != strings.Count(s, "ADD COLUMN IF NOT EXISTS ") {
				t.Errorf("not an idempotent ADD COLUMN IF NOT EXISTS in database sp:\n%s", s)
			}
		} else if m := createRe.FindStringSubmatch(s); m == nil || m[1] != "sp" {
			t.Errorf("not an idempotent CREATE or ADD COLUMN IF NOT EXISTS in database sp:\n%s", s)
		}
		if strings.Contains(s, "Replicated") || strings.Contains(s, "ON CLUSTER") || strings.Contains(s, "{{") {
			t.Errorf("single-server statement mentions a cluster:\n%s", s)
		}
		if strings.Contains(s, "MergeTree") && strings.Contains(s, "SETTINGS") && !strings.Contains(s, "non_replicated_deduplication_window = 10000") {
			t.Errorf("table without dedup window:\n%s", s)
		}
	}
}

func TestRenderCluster(t *testing.T) {
	for _, s := range allStatements(t, "sp", "prod-eu") {
		// An INSERT has no ON CLUSTER: a backfill copies what the shard
		// it runs on holds (docs/kbis.md).
		if !strings.Contains(s, "ON CLUSTER `prod-eu`") && !strings.HasPrefix(s, "INSERT INTO ") {
			t.Errorf("no ON CLUSTER:\n%s", s)
		}
		if strings.Contains(s, "ENGINE") {
			if !strings.Contains(s, "ENGINE = Replicated") || !strings.Contains(s, "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'") {
				t.Errorf("engine not replicated:\n%s", s)
			}
			if strings.Contains(s, "non_replicated") {
				t.Errorf("non-replicated setting on a replicated table:\n%s", s)
			}
		}
	}
}
