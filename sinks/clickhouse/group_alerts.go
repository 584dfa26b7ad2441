package clickhouse

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/salespulse/salespulse/schemas"
)

// alertKey names one alert transition: an alert id and its version (the
// time and state of the change, AlertVersion). The detectors derive the
// same transitions from the same offsets, so a replay sends the same keys.
type alertKey struct {
	id      string
	version uint64
}

// insertAlerts inserts the alerts of members as one insert. A group's
// members differ between attempts, so its dedup token cannot be what
// makes a replay harmless: a replayed member's transitions are looked up
// in alert_transitions (the append-only log every alerts row reaches
// through alert_transitions_mv) and left out where stored. alerts and
// alerts_team keep one row per (id, version) anyway (ReplacingMergeTree);
// the lookup keeps the log free of doubles. The token names the
// transitions inserted, so a retry of this insert is dropped by ClickHouse.
func (s *Sink) insertAlerts(ctx context.Context, members []groupMember) error {
	stored, err := s.storedAlerts(ctx, members)
	if err != nil {
		return err
	}
	var alerts []schemas.Alert
	for _, m := range members {
		for k := range m.b.Alerts {
			a := &m.b.Alerts[k]
			if m.b.MaybeStored && stored[alertKey{a.ID, AlertVersion(a)}] {
				s.m.skipped.WithLabelValues(TableAlerts).Inc()
				continue
			}
			alerts = append(alerts, *a)
		}
	}
	if len(alerts) == 0 {
		return nil
	}
	c := getFree(s.freeAlerts)
	defer putFree(s.freeAlerts, c)
	c.fill(alerts, s.cfg.Clock().UTC())
	defer c.fill(nil, time.Time{}) // drop references to the batches before reuse
	what := fmt.Sprintf("group of %d alerts", len(alerts))
	return s.insertWith(ctx, s.groupConn(), TableAlerts, s.alertsInsert, alertColumns, what,
		insertSettings(alertsToken(alerts)), len(alerts), c.bytes, c.appendTo)
}

// alertsToken is the insert_deduplication_token of a grouped alerts
// insert: a digest of its transitions' keys, so the same transitions give
// the same token and different ones never do.
func alertsToken(alerts []schemas.Alert) string {
	h := sha256.New()
	h.Write([]byte("salespulse/alerts/v1"))
	var buf []byte
	for k := range alerts {
		buf = append(buf[:0], 0)
		buf = append(buf, alerts[k].ID...)
		buf = append(buf, 0)
		buf = strconv.AppendUint(buf, AlertVersion(&alerts[k]), 10)
		h.Write(buf)
	}
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}

// lookupQueryBytes bounds the key list of one lookup query, well under
// the server's max_query_size (256 KiB by default): a restart's replay
// can carry thousands of alert transitions.
const lookupQueryBytes = 128 << 10

// storedAlerts returns which of the replayed members' alert transitions
// alert_transitions holds: one query per lookupQueryBytes of keys, pruned
// to their rules and time span.
func (s *Sink) storedAlerts(ctx context.Context, members []groupMember) (map[alertKey]bool, error) {
	var rules []string
	var chunks [][]string
	var lo, hi time.Time
	size := 0
	n := 0
	for _, m := range members {
		if !m.b.MaybeStored {
			continue
		}
		for k := range m.b.Alerts {
			a := &m.b.Alerts[k]
			if !slices.Contains(rules, a.Rule) {
				rules = append(rules, a.Rule)
			}
			key := "(" + stringList([]string{a.ID}) + ", " + strconv.FormatUint(AlertVersion(a), 10) + ")"
			if len(chunks) == 0 || size+len(key) > lookupQueryBytes {
				chunks = append(chunks, nil)
				size = 0
			}
			chunks[len(chunks)-1] = append(chunks[len(chunks)-1], key)
			size += len(key) + 2
			n++
			if lo.IsZero() || a.At.Before(lo) {
				lo = a.At
			}
			if a.At.After(hi) {
				hi = a.At
			}
		}
	}
	if n == 0 {
		return nil, nil
	}
	// alert_transitions copies at from alerts: the rule and time bounds
	// prune it to the parts and granules the keys can be in.
	where := " WHERE rule IN (" + stringList(rules) + ")" +
		" AND at BETWEEN fromUnixTimestamp64Milli(" + strconv.FormatInt(lo.UnixMilli(), 10) + ", 'UTC')" +
		" AND fromUnixTimestamp64Milli(" + strconv.FormatInt(hi.UnixMilli(), 10) + ", 'UTC')"
	found := map[alertKey]bool{}
	for _, keys := range chunks {
		q := "SELECT id, version FROM " + s.cfg.Database + ".alert_transitions" + where +
			" AND (id, version) IN (" + strings.Join(keys, ", ") + ")"
		var got []alertKey
		err := s.withRetry(ctx, "history", func() error {
			got = got[:0]
			rows, err := s.conn.Query(ctx, q)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var k alertKey
				if err := rows.Scan(&k.id, &k.version); err != nil {
					return err
				}
				got = append(got, k)
			}
			return rows.Err()
		})
		if err != nil {
			return nil, fmt.Errorf("look up %d replayed alert transitions in alert_transitions: %w", n, err)
		}
		for _, k := range got {
			found[k] = true
		}
	}
	return found, nil
}
