package clickhouse

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/salespulse/salespulse/schemas"
)

// DealCloses returns the deal_features rows of closed deals (event won or
// lost) closed in [from, to) (zero bounds: open), in (at,
// opportunity_id) order: the training examples of `salespulse score`.
// A row stored twice (a replay beyond the deduplication window) is
// returned once.
func (s *Sink) DealCloses(ctx context.Context, from, to time.Time) ([]schemas.DealFeatureRow, error) {
	q := "SELECT at, opportunity_id, account_id, rep_id, team_id, event, event_id, " +
		strings.Join(schemas.DealFeatureNames[:], ", ") +
		" FROM " + s.cfg.Database + "." + schemas.TableDealFeatures + " WHERE event IN ('won', 'lost')"
	var args []any
	if !from.IsZero() {
		q += " AND at >= ?"
		args = append(args, from)
	}
	if !to.IsZero() {
		q += " AND at < ?"
		args = append(args, to)
	}
	q += " ORDER BY at, opportunity_id, event_id LIMIT 1 BY opportunity_id, event_id"
	rows, err := s.conn.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read deal closes: %w", err)
	}
	defer rows.Close()
	var out []schemas.DealFeatureRow
	for rows.Next() {
		var r schemas.DealFeatureRow
		dst := []any{&r.At, &r.OpportunityID, &r.AccountID, &r.RepID, &r.TeamID, &r.Event, &r.EventID}
		for j := range r.Features {
			dst = append(dst, &r.Features[j])
		}
		if err := rows.Scan(dst...); err != nil {
			return nil, fmt.Errorf("read deal closes: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read deal closes: %w", err)
	}
	return out, nil
}
