package kafka

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
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
	offs, metas, states := s.commitSetLocked(func(p *partition) bool { return !p.dropped })
	recorded := slices.Clone(s.unrecorded)
	s.mu.Unlock()

	err := s.commitSync(ctx, offs, metas)

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

func (s *Source) commitSetLocked(include func(*partition) bool) (map[string]map[int32]kgo.EpochOffset, map[tp]string, map[*partition]string) {
	offs := make(map[string]map[int32]kgo.EpochOffset)
	metas := make(map[tp]string)
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
		if offs[p.topic] == nil {
			offs[p.topic] = make(map[int32]kgo.EpochOffset)
		}
		offs[p.topic][p.part] = kgo.EpochOffset{Epoch: -1, Offset: off}
		metas[p.tp] = meta
		states[p] = st
	}
	return offs, metas, states
}

// commitSync commits offs with their metadata and reports the first
// failure, request-level or per partition.
func (s *Source) commitSync(ctx context.Context, offs map[string]map[int32]kgo.EpochOffset, metas map[tp]string) error {
	if len(offs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.CommitTimeout)
	defer cancel()
	ctx = kgo.PreCommitFnContext(ctx, func(req *kmsg.OffsetCommitRequest) error {
		for i := range req.Topics {
			t := &req.Topics[i]
			for j := range t.Partitions {
				pp := &t.Partitions[j]
				if m, ok := metas[tp{t.Topic, pp.Partition}]; ok {
					pp.Metadata = &m
				}
			}
		}
		return nil
	})
	var cerr error
	s.cl.CommitOffsetsSync(ctx, offs, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if e := kerr.ErrorForCode(p.ErrorCode); e != nil && cerr == nil {
					cerr = fmt.Errorf("%s/%d: %w", t.Topic, p.Partition, e)
				}
			}
		}
	})
	if cerr != nil {
		s.m.commitErrors.Inc()
		s.logger.LogAttrs(ctx, slog.LevelError, "offset commit failed", slog.Any("err", cerr))
		return fmt.Errorf("commit offsets: %w", cerr)
	}
	return nil
}
