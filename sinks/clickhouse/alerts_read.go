package clickhouse

import (
	"context"
	"fmt"
	"time"

	"github.com/salespulse/salespulse/schemas"
)

// Alerts returns the rows of the alerts table whose at is in [from, to)
// (zero bounds: open), in version order. The table keeps one row per state
// change until a merge keeps only the latest of an id (ReplacingMergeTree),
// so an alert may come back as its firing and resolved rows or as the
// resolved one alone; a resolved row still says when it fired (At) and
// resolved (EndsAt). Summary, event ids and values are not read.
func (s *Sink) Alerts(ctx context.Context, from, to time.Time) ([]schemas.Alert, error) {
	q := "SELECT id, rule, state, severity, rep_id, team_id, manager_id, at, ends_at FROM " + s.cfg.Database + "." + TableAlerts
	var args []any
	switch {
	case !from.IsZero() && !to.IsZero():
		q += " WHERE at >= ? AND at < ?"
		args = append(args, from, to)
	case !from.IsZero():
		q += " WHERE at >= ?"
		args = append(args, from)
	case !to.IsZero():
		q += " WHERE at < ?"
		args = append(args, to)
	}
	q += " ORDER BY version, id"
	rows, err := s.conn.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read alerts: %w", err)
	}
	defer rows.Close()
	var out []schemas.Alert
	for rows.Next() {
		var a schemas.Alert
		var state, sev string
		var ends *time.Time
		if err := rows.Scan(&a.ID, &a.Rule, &state, &sev, &a.RepID, &a.TeamID, &a.ManagerID, &a.At, &ends); err != nil {
			return nil, fmt.Errorf("read alerts: %w", err)
		}
		a.State, a.Severity = parseState(state), parseSeverity(sev)
		if ends != nil {
			a.EndsAt = *ends
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read alerts: %w", err)
	}
	return out, nil
}

func parseState(s string) schemas.AlertState {
	for st := schemas.AlertInactive; st <= schemas.AlertResolved; st++ {
		if st.String() == s {
			return st
		}
	}
	return schemas.AlertInactive
}

func parseSeverity(s string) schemas.Severity {
	for _, v := range []schemas.Severity{schemas.SeverityInfo, schemas.SeverityWarning, schemas.SeverityCritical} {
		if v.String() == s {
			return v
		}
	}
	return schemas.SeverityInfo
}
