package kafka

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/kafka/internal/cuts"
)

// This file is the consumer group's side of the source: what happens when
// partitions are assigned, revoked or lost, and on Close.

func (s *Source) partitionLocked(topic string, part int32) *partition {
	k := tp{topic, part}
	if p := s.parts[k]; p != nil {
		return p
	}
	p := &partition{
		tp:        k,
		decoder:   s.decoders[topic],
		source:    s.cfg.Topics[topic],
		tm:        s.tms[topic],
		lag:       s.m.LagFor(topic, part),
		plan:      cuts.New[held](s.lim),
		next:      -1,
		commitOff: -1,
		start:     -1,
	}
	s.parts[k] = p
	return p
}

func (s *Source) onAssigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for t, ps := range assigned {
		for _, part := range ps {
			s.partitionLocked(t, part)
		}
	}
	s.logger.Info("partitions assigned", "partitions", assigned)
}

// onOffsetsFetched learns where each new partition starts and which cuts
// its previous owner made but did not see acknowledged; for partitions
// without such a plan it asks the cut history.
func (s *Source) onOffsetsFetched(ctx context.Context, _ *kgo.Client, resp *kmsg.OffsetFetchResponse) error {
	need := make(map[string][]int32)
	from := make(map[tp]int64)
	s.mu.Lock()
	set := func(topic string, part int32, off int64, meta *string) {
		if topic == "" || s.decoders[topic] == nil {
			return
		}
		p := s.partitionLocked(topic, part)
		p.start = -1
		m := derefOr(meta)
		if !cuts.Complete(off, m) {
			if _, dup := from[p.tp]; !dup { // a response may list a partition twice (group and top-level fields)
				need[topic] = append(need[topic], part)
			}
			from[p.tp] = off
		}
		if off < 0 {
			return // nothing committed: start at the reset offset, no plan
		}
		p.plan.Resume(off, m)
		p.next = off
		p.committed = strconv.FormatInt(off, 10) + "/" + m
		p.commitOff = off
		if p.plan.Planned() {
			s.logger.Info("replaying previous cuts", "topic", topic, "partition", part, "from", off, "ends", p.plan.Plan())
		}
	}
	for _, g := range resp.Groups {
		for _, t := range g.Topics {
			for _, pp := range t.Partitions {
				set(t.Topic, pp.Partition, pp.Offset, pp.Metadata)
			}
		}
	}
	for _, t := range resp.Topics {
		for _, pp := range t.Partitions {
			set(t.Topic, pp.Partition, pp.Offset, pp.Metadata)
		}
	}
	s.mu.Unlock()
	if s.history == nil || len(need) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, historyTimeout)
	defer cancel()
	for topic, parts := range need {
		origins, err := s.history.StoredOrigins(ctx, topic, parts)
		if err != nil {
			// Cutting without the history could store a replayed range
			// under new tokens: count it twice. Rejoin and try again.
			s.logger.Error("load cut history failed; rejoining the group to retry", "topic", topic, "err", err)
			return fmt.Errorf("load cut history of %s: %w", topic, err)
		}
		byPart := make(map[int32][]schemas.Origin)
		for _, o := range origins {
			byPart[o.Partition] = append(byPart[o.Partition], o)
		}
		s.mu.Lock()
		for _, part := range parts {
			p := s.parts[tp{topic, part}]
			if p == nil || p.dropped {
				continue
			}
			off := from[p.tp]
			start, ends := planFromHistory(byPart[part], off)
			if start != off {
				p.start, p.next = start, start
			}
			p.plan.Replan(start, ends)
			if len(ends) > 0 {
				s.logger.Info("replaying stored cuts from the history", "topic", topic, "partition", part,
					"committed", off, "from", start, "cuts", len(ends))
			}
		}
		s.mu.Unlock()
	}
	return nil
}

// adjustOffsets starts a partition earlier than its commit when the commit
// falls inside a stored batch (offsets reset by a tool to an arbitrary
// offset): consuming the whole batch again repeats its token, where
// consuming its tail alone would store that tail a second time.
func (s *Source) adjustOffsets(_ context.Context, offs map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for t, ps := range offs {
		for part := range ps {
			if p := s.parts[tp{t, part}]; p != nil && p.start >= 0 {
				ps[part] = kgo.NewOffset().At(p.start)
				p.start = -1
			}
		}
	}
	return offs, nil
}

// planFromHistory is cuts.FromHistory over one partition's stored origins.
func planFromHistory(origins []schemas.Origin, from int64) (start int64, ends []int64) {
	rs := make([]cuts.Range, len(origins))
	for k, o := range origins {
		rs[k] = cuts.Range{First: o.FirstOffset, Last: o.LastOffset}
	}
	return cuts.FromHistory(rs, from)
}

func derefOr(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// onRevoked gives partitions up cleanly: wait (bounded) for their handed-out
// batches, commit what was acknowledged together with the pending cuts, and
// drop the rest, which the new owner consumes again with the same cuts.
func (s *Source) onRevoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	if len(revoked) == 0 {
		return
	}
	want := make(map[tp]bool)
	for t, ps := range revoked {
		for _, p := range ps {
			want[tp{t, p}] = true
		}
	}
	s.waitAcked(ctx, s.cfg.RevokeTimeout, func(p *partition) bool { return want[p.tp] })

	s.commitMu.Lock()
	s.mu.Lock()
	set, _ := s.commitSetLocked(func(p *partition) bool { return want[p.tp] && !p.dropped })
	s.mu.Unlock()
	if err := s.commitSync(ctx, set); err != nil {
		s.logger.Warn("commit on revoke failed; unacknowledged work is redelivered", "err", err)
	}
	s.commitMu.Unlock()
	s.drop(want)
	s.logger.Info("partitions revoked", "partitions", revoked)
}

func (s *Source) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	want := make(map[tp]bool)
	for t, ps := range lost {
		for _, p := range ps {
			want[tp{t, p}] = true
		}
	}
	s.drop(want)
	s.logger.Warn("partitions lost; their in-flight batches will be redelivered to the new owner", "partitions", lost)
}

// drop forgets partitions: their cuts are never handed out, their records
// waiting to be decoded are discarded (one being decoded is discarded when
// it returns), and the ones it paused are resumed. Then, unlocked, it
// tells OnRelease's function about each.
func (s *Source) drop(which map[tp]bool) {
	var gone []tp
	defer func() {
		if f := s.onRelease; f != nil {
			for _, k := range gone {
				f(k.topic, k.part)
			}
		}
	}()
	s.mu.Lock()
	defer s.mu.Unlock()
	var resume map[string][]int32
	for k := range which {
		p := s.parts[k]
		if p == nil {
			continue
		}
		gone = append(gone, k)
		if p.paused {
			if resume == nil {
				resume = make(map[string][]int32)
			}
			resume[k.topic] = append(resume[k.topic], k.part)
		}
		p.dropped = true
		s.dropQueueLocked(p)
		delete(s.parts, k)
		s.m.DropLag(k.topic, k.part)
	}
	s.unrecorded = slices.DeleteFunc(s.unrecorded, func(c *cut) bool { return c.Val.p.dropped })
	s.ready = slices.DeleteFunc(s.ready, func(c *cut) bool { return c.Val.p.dropped })
	// The client keeps a partition paused until it is resumed, across
	// revokes and reassignments, but the flag that says so goes with the
	// partition forgotten here: were it assigned back, its new state would
	// start unpaused, pauseLocked would never resume it, and it would not
	// be fetched again while this member lives. Resuming a partition we
	// do not own fetches nothing.
	if resume != nil {
		s.cl.ResumeFetchPartitions(resume)
	}
}

// waitAcked waits until no handed-out batch of a matching partition is
// unacknowledged, or timeout, or ctx is done.
func (s *Source) waitAcked(ctx context.Context, timeout time.Duration, match func(*partition) bool) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		s.mu.Lock()
		busy := 0
		for _, p := range s.parts {
			if !match(p) {
				continue
			}
			for _, c := range p.plan.InFlight() {
				if c.Val.handed && !c.Acked {
					busy++
				}
			}
		}
		s.mu.Unlock()
		if busy == 0 {
			return
		}
		select {
		case <-s.ackCh:
		case <-t.C:
			s.logger.Warn("gave up waiting for in-flight batches", "batches", busy)
			return
		case <-ctx.Done():
			return
		}
	}
}

// Close waits (bounded by ctx) for handed-out batches to be acknowledged,
// commits acknowledged offsets, leaves the group and closes the client.
// Unacknowledged batches are redelivered to whoever owns their partitions
// next, cut at the same offsets.
func (s *Source) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()

	s.waitAcked(ctx, time.Hour, func(*partition) bool { return true })
	s.commitMu.Lock()
	s.mu.Lock()
	set, _ := s.commitSetLocked(func(p *partition) bool { return !p.dropped })
	s.mu.Unlock()
	err := s.commitSync(ctx, set)
	s.commitMu.Unlock()

	// Leaving runs onRevoked for what we still own (one more, now no-op,
	// commit) so the group rebalances at once instead of after the
	// session timeout.
	s.cl.Close()
	s.stopLife()
	s.ra.leave(s.raUser)
	// Decoders last: nothing is dispatched any more. A decoder stuck in a
	// record is not waited for beyond ctx.
	s.work.Close(ctx)
	return err
}
