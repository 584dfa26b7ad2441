package kafka

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/salespulse/salespulse/sources/kafka/internal/offsets"
)

// commit commits every owned partition whose state changed. With force
// false it only does so once per CommitInterval. On success the unrecorded
// cuts become ready.
func (s *Source) commit(ctx context.Context, force bool) error {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	s.mu.Lock()
	now := s.now()
	if !force && now.Sub(s.lastCommit) < s.cfg.CommitInterval {
		s.mu.Unlock()
		return nil
	}
	changes := make(map[*partition]uint64, len(s.parts))
	for _, p := range s.parts {
		changes[p] = p.changes
	}
	set, states := s.commitSetLocked(func(p *partition) bool { return !p.dropped })
	recorded := slices.Clone(s.unrecorded)
	s.mu.Unlock()

	err := s.commitSync(ctx, set)

	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastCommit = now
	if err != nil {
		return err
	}
	for p, st := range states {
		p.committed = st
		if off, err := strconv.ParseInt(st[:strings.IndexByte(st, '/')], 10, 64); err == nil {
			p.commitOff = off
			p.setLag()
		}
	}
	for p, n := range changes {
		p.clean = n
	}
	for _, c := range recorded {
		if c.Val.p.dropped || c.Val.dead {
			continue
		}
		s.ready = append(s.ready, c)
	}
	s.unrecorded = slices.DeleteFunc(s.unrecorded, func(c *cut) bool { return slices.Contains(recorded, c) })
	return nil
}

// commitSetLocked is the commit of every included partition whose commit
// state moved since its last commit; states are the new states.
func (s *Source) commitSetLocked(include func(*partition) bool) (offsets.Set, map[*partition]string) {
	set := make(offsets.Set)
	states := make(map[*partition]string)
	for _, p := range s.parts {
		if !include(p) {
			continue
		}
		off, meta, ok := p.plan.Commit()
		if !ok {
			continue
		}
		st := strconv.FormatInt(off, 10) + "/" + meta
		if st == p.committed {
			continue
		}
		set.Add(p.topic, p.part, offsets.Offset{At: off, Meta: meta})
		states[p] = st
	}
	return set, states
}

// commitSync commits set, bounded by CommitTimeout.
func (s *Source) commitSync(ctx context.Context, set offsets.Set) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.CommitTimeout)
	defer cancel()
	if err := offsets.Commit(ctx, s.cl, set); err != nil {
		s.m.CommitErrors.Inc()
		s.logger.LogAttrs(ctx, slog.LevelError, "offset commit failed", slog.Any("err", err))
		return fmt.Errorf("commit offsets: %w", err)
	}
	return nil
}
