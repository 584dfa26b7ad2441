package anomaly

import (
	"bytes"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/pipeline/statelog"
	"github.com/salespulse/salespulse/schemas"
)

// Checkpointing. Every piece of a partition's detector state is one
// changelog key (kinds below): an open lead, a quote awaiting approval, an
// approval awaiting its decision, a quote-matching list, an alert episode,
// an outlier ring buffer, an activity window, a team's activity shares and
// the partition's meta (watermark, sweep time, generation counter).
//
// A record's value is not the key's latest state but its versions since
// the consumer group's committed offset: (last offset of the batch that
// produced it, state or "absent"), oldest first, starting with the version
// in force at the committed offset. A restore at offset F takes, per key,
// the newest version produced by a batch ending before F: exactly the state
// after the batches below F, whatever was checkpointed beyond F before the
// crash. Versions below the committed offset are dropped as it advances (no
// restore can start below it); a key whose only remaining version is
// "absent" is tombstoned then, so compaction forgets closed items.
//
// Versions are copy-on-write: the first mutation of a key after its history
// was dropped captures its prior state (touch), so memory holds history only
// for keys changed since the last commit.

// Changelog key kinds.
const (
	kindMeta     = 'M' // id "": watermark, sweep time, generation counter
	kindLead     = 'L' // lead id
	kindQuote    = 'Q' // quote event id
	kindApproval = 'A' // approval id
	kindMatch    = 'm' // account\x00rep\x00discount: unlinked quote ids
	kindLink     = 'b' // approval id: linked quote event id
	kindEpisode  = 'E' // rule\x00rep: outlier or activity episode
	kindTeamRing = 'T' // team\x00rule: the team's trailing values
	kindRepRing  = 'R' // team\x00rule\x00rep: the rep's trailing values
	kindWindow   = 'W' // window start (unix ms)\x00team: activity counts
	kindShares   = 'S' // team: reps' activity shares
)

// skey names one piece of state of a partition.
type skey struct {
	kind byte
	id   string
}

// version is a key's state after the batch ending at last; val nil means
// absent. last -1: in force since before the committed offset.
type version struct {
	last int64
	val  []byte
}

type keyHist struct {
	vers    []version
	written bool // the changelog holds a record for the key
	pending bool // the record must be rewritten at the next checkpoint
}

// touch must be called before a piece of state is changed: it captures the
// state as it was (the base a restore below this batch needs) and marks it
// for the checkpoint. A no-op without a changelog.
func (p *partState) touch(kind byte, id string) {
	if p.hist == nil {
		return
	}
	k := skey{kind, id}
	if _, ok := p.dirty[k]; ok {
		return
	}
	p.dirty[k] = struct{}{}
	p.dirtyList = append(p.dirtyList, k)
	if _, ok := p.hist[k]; !ok {
		p.hist[k] = &keyHist{vers: []version{{last: -1, val: p.encode(nil, k)}}}
	}
}

// EnsureChangelog creates the detector's compacted changelog topic when
// missing, with partitions partitions (at least as many as every source
// topic: state of source partition p goes to changelog partition p).
// Replication factor -1 is the broker's default.
func (d *Detector) EnsureChangelog(ctx context.Context, partitions int32, replicationFactor int16) error {
	if d.deps.Changelog == nil {
		return nil
	}
	adm := kadm.NewClient(d.deps.Changelog)
	compact := "compact"
	resp, err := adm.CreateTopic(ctx, partitions, replicationFactor, map[string]*string{"cleanup.policy": &compact}, d.cfg.ChangelogTopic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create anomaly changelog topic %s: %w", d.cfg.ChangelogTopic, err)
	}
	return nil
}

// recordKey is "topic/partition/kind/id": topic names cannot contain '/',
// so the id may.
func recordKey(dst []byte, topic string, partition int32, k skey) []byte {
	dst = append(dst, topic...)
	dst = append(dst, '/')
	dst = strconv.AppendInt(dst, int64(partition), 10)
	dst = append(dst, '/', k.kind, '/')
	return append(dst, k.id...)
}

// restore rebuilds o's partition state as of o.FirstOffset from the
// changelog: versions produced by batches at or after it are ignored,
// because those batches are about to be processed again.
func (s *Stage) restore(ctx context.Context, o schemas.Origin) (*partState, error) {
	d := s.d
	start := d.deps.Clock()
	p := newPartState(d, o)
	committed, err := d.deps.Committed(ctx, o.Topic, o.Partition)
	if err != nil {
		return nil, fmt.Errorf("restore anomaly state %s: %w", o, err)
	}
	from := o.FirstOffset
	p.committed = min(committed, from)
	p.gcAt = p.committed
	p.polled = start
	recs, err := d.readChangelog(ctx, o.Partition)
	if err != nil {
		return nil, fmt.Errorf("restore anomaly state %s: %w", o, err)
	}
	prefix := string(recordKey(nil, o.Topic, o.Partition, skey{})) // ends in "//"
	prefix = prefix[:len(prefix)-2]
	n := 0
	for rk, v := range recs {
		rest, ok := strings.CutPrefix(rk, prefix)
		if !ok || len(rest) < 2 || rest[1] != '/' {
			continue
		}
		k := skey{rest[0], rest[2:]}
		vers, err := decodeVersions(v)
		if err != nil {
			return nil, fmt.Errorf("restore anomaly state %s: key %q: %w", o, rk, err)
		}
		j := -1
		for i := range vers {
			if vers[i].last < from {
				j = i
			}
		}
		future := j < len(vers)-1
		if j >= 0 && vers[j].val != nil {
			if err := p.decode(k, vers[j].val); err != nil {
				return nil, fmt.Errorf("restore anomaly state %s: key %q: %w", o, rk, err)
			}
			n++
		}
		if !future && j >= 0 && vers[j].last < p.committed {
			continue // final: nothing to remember
		}
		h := &keyHist{written: true, pending: future}
		if j < 0 {
			h.vers = []version{{last: -1}}
		} else {
			b := 0
			for i := 0; i <= j; i++ {
				if vers[i].last < p.committed {
					b = i
				}
			}
			h.vers = slices.Clone(vers[b : j+1])
		}
		p.hist[k] = h
		if future { // drop what a run beyond from checkpointed
			p.dirty[k] = struct{}{}
			p.dirtyList = append(p.dirtyList, k)
		}
	}
	p.rebuild()
	s.parts[partKey{o.Topic, o.Partition}] = p
	el := d.deps.Clock().Sub(start)
	d.m.restored.Inc()
	d.m.restoreSeconds.Observe(el.Seconds())
	d.log.Info("anomaly state restored", "origin", o.String(), "keys", n, "committed", committed,
		"open_leads", len(p.leads), "quotes", len(p.quotes), "approvals", len(p.approvals), "duration", el)
	return p, nil
}

// rebuild derives what is not checkpointed: the deadline heap and the
// activity window order.
func (p *partState) rebuild() {
	f := p.cfg.SLA.EscalateFactor
	for id, l := range p.leads {
		// A deadline popped with the lead's generation fired its alert, so
		// a lead without one still has that deadline queued.
		if l.breach == nil {
			p.deadlines = append(p.deadlines, deadline{at: l.at.Add(l.sla), kind: dlSLA, gen: l.gen, key: id})
		}
		if f > 1 && l.escalate == nil {
			p.deadlines = append(p.deadlines, deadline{at: l.at.Add(l.escalateAfter(f)), kind: dlEscalate, gen: l.gen, key: id})
		}
	}
	for id, q := range p.quotes {
		// A queued quote deadline only matters for an unlinked quote not
		// firing yet; the others would be no-ops when popped.
		if q.approval == "" && q.without.state() != schemas.AlertFiring {
			p.deadlines = append(p.deadlines, deadline{at: q.at.Add(p.cfg.Approvals.RequestWithin), kind: dlQuote, gen: q.gen, key: id})
		}
	}
	for id, a := range p.approvals {
		if a.backlog == nil {
			p.deadlines = append(p.deadlines, deadline{at: a.at.Add(p.cfg.Approvals.Backlog), kind: dlBacklog, gen: a.gen, key: id})
		}
	}
	heap.Init(&p.deadlines)
	p.activity.order = p.activity.order[:0]
	for start := range p.activity.windows {
		p.activity.order = append(p.activity.order, start)
	}
	slices.Sort(p.activity.order)
}

// ErrChangelogUnavailable is returned (wrapped, with the last cause) when
// the changelog partition a restore needs did not exist with a leader
// within restore_timeout. It is statelog's sentinel, so errors.Is matches
// either name.
var ErrChangelogUnavailable = statelog.ErrUnavailable

// readChangelog reads one changelog partition up to its end: the latest
// value per key. Waiting for the partition and reading it share one
// restore_timeout.
func (d *Detector) readChangelog(ctx context.Context, partition int32) (map[string][]byte, error) {
	return statelog.Latest(ctx, d.deps.Changelog, d.cfg.ChangelogTopic, partition, d.cfg.RestoreTimeout, d.log)
}

// checkpoint appends this batch's version of every changed key, drops
// history below the committed offset, and produces the changed records
// synchronously: the batch may be acknowledged only once its state is
// durable.
func (s *Stage) checkpoint(ctx context.Context, p *partState, last int64) error {
	d := s.d
	if p.hist == nil {
		return nil
	}
	if now := d.deps.Clock(); now.Sub(p.polled) >= d.cfg.CommitPollInterval {
		c, err := d.deps.Committed(ctx, p.topic, p.partition)
		if err != nil {
			d.log.Warn("committed offset unknown; keeping anomaly changelog history", "topic", p.topic, "partition", p.partition, "err", err)
		} else if c > p.committed {
			p.committed = c
		}
		p.polled = now
	}
	s.recs = s.recs[:0]
	nbytes := 0
	add := func(k skey, val []byte) {
		key := recordKey(nil, p.topic, p.partition, k)
		s.recs = append(s.recs, &kgo.Record{Topic: d.cfg.ChangelogTopic, Partition: p.partition, Key: key, Value: val})
		nbytes += len(key) + len(val)
	}
	for _, k := range p.dirtyList {
		h := p.hist[k]
		val := p.encode(nil, k)
		prev := h.vers[len(h.vers)-1].val
		if (val == nil) != (prev == nil) || !bytes.Equal(val, prev) {
			h.vers = append(h.vers, version{last: last, val: val})
			h.pending = true
		}
	}
	if p.committed > p.gcAt {
		p.gcAt = p.committed
		for k, h := range p.hist {
			b := -1
			for i := range h.vers {
				if h.vers[i].last < p.committed {
					b = i
				}
			}
			if b > 0 {
				h.vers = append(h.vers[:0], h.vers[b:]...)
			}
			if b < 0 || len(h.vers) > 1 {
				continue
			}
			// Final as of the committed offset: forget it; a closed
			// item's record becomes a tombstone.
			switch {
			case h.vers[0].val == nil && (h.written || h.pending):
				add(k, nil)
			case h.vers[0].val != nil && h.pending: // a restore's rewrite
				add(k, appendVersions(nil, h.vers))
			}
			delete(p.hist, k)
		}
	}
	for _, k := range p.dirtyList {
		if h := p.hist[k]; h != nil && h.pending {
			add(k, appendVersions(nil, h.vers))
			h.pending, h.written = false, true
		}
	}
	clear(p.dirty)
	p.dirtyList = p.dirtyList[:0]
	if len(s.recs) == 0 {
		return nil
	}
	if err := d.deps.Changelog.ProduceSync(ctx, s.recs...).FirstErr(); err != nil {
		return fmt.Errorf("checkpoint anomaly state %s/%d to %s: %w", p.topic, p.partition, d.cfg.ChangelogTopic, err)
	}
	if s.recs[0].Partition != p.partition {
		return fmt.Errorf("checkpoint anomaly state %s/%d: record landed in partition %d: the changelog client needs kgo.ManualPartitioner", p.topic, p.partition, s.recs[0].Partition)
	}
	d.m.changelogBytes.Add(float64(nbytes))
	d.m.changelogRecs.Add(float64(len(s.recs)))
	return nil
}
