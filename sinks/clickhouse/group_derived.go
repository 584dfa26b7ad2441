package clickhouse

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/salespulse/salespulse/schemas"
)

// groupedTables are the KBI tables a group inserts, in this order: the
// provisional tables before the facts, as window.Stage hands them out, so
// that between the tombstone of a pair turned final and its fact the
// pair is briefly in neither, never in both.
var groupedTables = []string{
	schemas.TableLeadResponseProvisional,
	schemas.TableApprovalsProvisional,
	schemas.TableActivity,
	schemas.TableRepAccounts,
	schemas.TableLeadResponse,
	schemas.TableApprovals,
	schemas.TableDeals,
	schemas.TableForecasts,
	schemas.TableDealFeatures,
	schemas.TableDealScores,
}

// derivedPart is one member's rows of one table and partition.
type derivedPart struct {
	o    schemas.Origin
	rows schemas.Rows
}

type derivedKey struct {
	table string
	o     schemas.Origin
	key   uint32
}

// insertDerived inserts the grouped KBI rows of members: one insert per
// table and partition, each one part (onePart), under a token naming its
// members. A replayed member's rows of an appendOnly table are looked up
// first, per partition, and left out where stored; those not stored and
// all of one partition go in an insert of their own under the batch's own
// token, the one a binary that inserted KBI rows per batch (before
// migration 015, without origins to find them by) gave them, so that
// ClickHouse drops them if such an attempt stored them.
func (s *Sink) insertDerived(ctx context.Context, members []groupMember) error {
	stored, err := s.storedDerived(ctx, members)
	if err != nil {
		return err
	}
	type tableKey struct {
		table string
		key   uint32
	}
	byKey := map[tableKey][]derivedPart{}
	solo := map[string][]derivedPart{}
	for _, m := range members {
		for k, d := range m.derived {
			if m.b.MaybeStored && kbiLayouts[d.table].group.class == appendOnly {
				if stored[derivedKey{d.table, m.b.Origin, d.key}] {
					s.m.skipped.WithLabelValues(d.table).Add(float64(d.rows.Len()))
					continue
				}
				if onlyKey(m.derived, k) {
					solo[d.table] = append(solo[d.table], derivedPart{m.b.Origin, d.rows})
					continue
				}
			}
			tk := tableKey{d.table, d.key}
			byKey[tk] = append(byKey[tk], derivedPart{m.b.Origin, d.rows})
		}
	}
	for _, table := range groupedTables {
		for _, p := range solo[table] {
			if err := s.insertDerivedPart(ctx, table, []derivedPart{p}, p.o.DedupToken(table)); err != nil {
				return err
			}
		}
		var keys []uint32
		for tk := range byKey {
			if tk.table == table {
				keys = append(keys, tk.key)
			}
		}
		slices.Sort(keys)
		for _, key := range keys {
			parts := byKey[tableKey{table, key}]
			origins := make([]schemas.Origin, len(parts))
			for k, p := range parts {
				origins[k] = p.o
			}
			if err := s.insertDerivedPart(ctx, table, parts, groupToken(table, key, origins)); err != nil {
				return err
			}
		}
	}
	return nil
}

// onlyKey reports whether derived[k] is its member's only partition of
// its table.
func onlyKey(derived []derivedRows, k int) bool {
	for j, d := range derived {
		if j != k && d.table == derived[k].table {
			return false
		}
	}
	return true
}

// insertDerivedPart inserts parts (rows of one table and partition) as
// one block, one part.
func (s *Sink) insertDerivedPart(ctx context.Context, table string, parts []derivedPart, token string) error {
	l := kbiLayouts[table]
	rows := make([]schemas.Rows, len(parts))
	runs := make([]originRun, len(parts))
	for k, p := range parts {
		rows[k] = p.rows
		runs[k] = originRun{p.o, p.rows.Len()}
	}
	all := l.group.concat(rows)
	n := all.Len()
	what := fmt.Sprintf("group of %d batches", len(parts))
	err := s.insertWith(ctx, s.groupConn(), table, s.kbiInserts[table], l.cols, what, onePart(insertSettings(token), n), -1, 0,
		func(batch driver.Batch) error { return l.fill(batch, all, runs) })
	if err != nil {
		return err
	}
	s.m.rows.WithLabelValues(table).Add(float64(n))
	return nil
}

// storedDerived returns which (table, origin, partition) of the replayed
// members' appendOnly rows are stored: one query per table they have rows
// in (or its receipts table). As with interactions (storedMonths), each
// such part was inserted in one part, so any row of it stored means all
// are.
func (s *Sink) storedDerived(ctx context.Context, members []groupMember) (map[derivedKey]bool, error) {
	type want struct {
		tuples []string
		keys   []uint32
	}
	per := map[string]*want{}
	for _, m := range members {
		if !m.b.MaybeStored {
			continue
		}
		o := m.b.Origin
		tuple := fmt.Sprintf("(%s, %d, %d, %d)", stringList([]string{o.Topic}), o.Partition, o.FirstOffset, o.LastOffset)
		for _, d := range m.derived {
			if kbiLayouts[d.table].group.class != appendOnly {
				continue
			}
			w := per[d.table]
			if w == nil {
				w = &want{}
				per[d.table] = w
			}
			if !slices.Contains(w.tuples, tuple) {
				w.tuples = append(w.tuples, tuple)
			}
			if !slices.Contains(w.keys, d.key) {
				w.keys = append(w.keys, d.key)
			}
		}
	}
	if len(per) == 0 {
		return nil, nil
	}
	out := map[derivedKey]bool{}
	for _, table := range groupedTables {
		w := per[table]
		if w == nil {
			continue
		}
		from, expr := table, kbiLayouts[table].group.partExpr
		if r := kbiLayouts[table].group.receipts; r != "" {
			from, expr = r, "month"
		}
		keys := make([]string, len(w.keys))
		for k, key := range w.keys {
			keys[k] = strconv.FormatUint(uint64(key), 10)
		}
		// The partition condition prunes the table to the parts the
		// members can have rows in.
		q := "SELECT kafka_topic, kafka_partition, kafka_first_offset, kafka_last_offset, toUInt32(" + expr + ") AS k" +
			" FROM " + s.cfg.Database + "." + from +
			" WHERE " + expr + " IN (" + strings.Join(keys, ", ") + ")" +
			" AND (kafka_topic, kafka_partition, kafka_first_offset, kafka_last_offset) IN (" + strings.Join(w.tuples, ", ") + ")" +
			" GROUP BY kafka_topic, kafka_partition, kafka_first_offset, kafka_last_offset, k"
		found := map[derivedKey]bool{}
		err := s.withRetry(ctx, "history", func() error {
			clear(found)
			rows, err := s.conn.Query(ctx, q)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				k := derivedKey{table: table}
				if err := rows.Scan(&k.o.Topic, &k.o.Partition, &k.o.FirstOffset, &k.o.LastOffset, &k.key); err != nil {
					return err
				}
				found[k] = true
			}
			return rows.Err()
		})
		if err != nil {
			return nil, fmt.Errorf("look up %d replayed batches in %s: %w", len(w.tuples), table, err)
		}
		for k := range found {
			out[k] = true
		}
	}
	return out, nil
}
