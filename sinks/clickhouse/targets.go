package clickhouse

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/salespulse/salespulse/schemas"
)

// TableTeamTargets holds the org file's per-team targets for the KBI views
// (migrations/008_forecast.sql).
const TableTeamTargets = "team_targets"

var teamTargetCols = []clickhouse.ColumnNameAndType{
	{Name: "team_id", Type: "String"},
	{Name: "accounts_target", Type: "UInt32"},
	{Name: "updated_at", Type: "DateTime64(3, 'UTC')"},
}

// WriteTeamTargets stores every team's targets as of at, so the views can
// compare with them: ClickHouse cannot read the org file. Every team is
// written, those without a target as 0, so removing a target from the file
// takes effect; the latest write per team wins (ReplacingMergeTree on
// updated_at). A team removed from the file keeps its last row.
func (s *Sink) WriteTeamTargets(ctx context.Context, teams []schemas.Team, at time.Time) error {
	if len(teams) == 0 {
		return nil
	}
	query := insertQuery(s.cfg.Database, TableTeamTargets, teamTargetCols)
	err := s.withRetry(ctx, TableTeamTargets, func() error {
		return s.insertOnce(ctx, s.conn, query, func(b driver.Batch) error {
			for _, t := range teams {
				if err := b.Append(t.ID, t.AccountsTarget, at.UTC()); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("write %d team targets: %w", len(teams), err)
	}
	return nil
}
