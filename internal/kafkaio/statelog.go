package kafkaio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Reading one partition of a compacted state changelog, the way every
// restore needs it: wait (with backoff) for the partition to exist with a
// leader, then read it from its start up to a record known to be there.
// What a record means is the caller's business.

// ErrUnavailable is returned (wrapped, with the last cause) when a
// changelog partition did not exist with a leader within restore_timeout.
var ErrUnavailable = errors.New("changelog partition unavailable")

// errNotReady marks a changelog partition that may still appear: the
// topic was just created (no leader yet, metadata not yet propagated) or
// partitions are being added.
var errNotReady = errors.New("not ready")

// Backoff between looks at a changelog partition that is not ready.
const (
	backoffMin = 50 * time.Millisecond
	backoffMax = 2 * time.Second
)

// readPartition hands each record of partition of topic, from the
// partition's start through offset last, to each, in offset order; an
// error from each ends the read and is returned as is. The record at last
// must be one the reader is delivered: with read_committed, a committed
// data record (not a transaction marker, which is never delivered, so a
// read "up to the end offset" could not tell it had arrived). conn are the
// connection options; the reader is a client of its own. A record handed
// to each must not be kept past the call unless copied.
func readPartition(ctx context.Context, conn []kgo.Opt, topic string, partition int32, last int64, committed bool, each func(*kgo.Record) error) error {
	opts := append(conn[:len(conn):len(conn)],
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {partition: kgo.NewOffset().AtStart()}}))
	if committed {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	rd, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("changelog reader: %w", err)
	}
	defer rd.Close()
	var pr readProgress
	for {
		fs := rd.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			pr.ask(rd, topic, partition)
			return fmt.Errorf("read %s/%d up to %d: %s: %w", topic, partition, last, pr.describe(last, committed), err)
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return fmt.Errorf("read %s/%d: %w", topic, partition, ferr)
		}
		for it := fs.RecordIter(); !it.Done(); {
			r := it.Next()
			if r.Offset > last {
				return nil
			}
			pr.at, pr.read = r.Offset+1, true
			if err := each(r); err != nil {
				return err
			}
			if r.Offset == last {
				return nil
			}
		}
	}
}

// readProgress is how far a changelog read got, for the error of a read
// that did not finish: the offset it had reached, and the partition's
// bounds then.
type readProgress struct {
	at       int64 // the offset after the last record delivered
	read     bool  // a record was delivered (a compacted partition's first offset may be past 0)
	lso, hwm int64
	bounds   bool // lso and hwm are known
}

// ask looks up the partition's last stable offset and high watermark,
// briefly: the read's own context has ended.
func (p *readProgress) ask(cl *kgo.Client, topic string, partition int32) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return
	}
	stable, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		return
	}
	e, ok1 := ends.Lookup(topic, partition)
	c, ok2 := stable.Lookup(topic, partition)
	if ok1 && ok2 && e.Err == nil && c.Err == nil {
		p.hwm, p.lso, p.bounds = e.Offset, c.Offset, true
	}
}

// describe says where a read up to last stopped, and, when the broker's
// last stable offset is at or before last, why: read_committed readers
// see nothing past a transaction still open on the partition, which
// holds the last stable offset until its producer ends it, a new producer
// with its transactional id fences it, or the broker aborts it at its
// transaction timeout.
func (p readProgress) describe(last int64, committed bool) string {
	s := "no record read"
	if p.read {
		s = fmt.Sprintf("read to offset %d", p.at)
	}
	if !p.bounds {
		return s + "; the partition's bounds could not be listed"
	}
	s += fmt.Sprintf(", last stable offset %d, high watermark %d", p.lso, p.hwm)
	if committed && p.lso <= last && p.hwm > last {
		s += "; a transaction left open on the partition holds read_committed readers back"
	}
	return s
}

// waitPartition returns the start and end offsets of a changelog
// partition, waiting with backoff while it is missing or has no leader: a
// fresh deployment creates the topic moments before the first restore,
// and its partitions get leaders (and reach every broker's metadata) a
// little later; partitions may also be added while we wait. Any other
// error, or the end of ctx (restore_timeout), ends the wait.
func waitPartition(ctx context.Context, cl *kgo.Client, topic string, partition int32, log *slog.Logger) (start, end int64, err error) {
	adm := kadm.NewClient(cl)
	backoff := backoffMin
	for tries := 1; ; tries++ {
		start, end, err = bounds(ctx, adm, topic, partition)
		if err == nil || !retryable(err) {
			return start, end, err
		}
		if log != nil && (tries == 1 || tries%10 == 0) {
			log.Warn("changelog partition not ready; waiting", "topic", topic, "partition", partition, "err", err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, 0, fmt.Errorf("wait for changelog %s partition %d (%d attempts; it needs as many partitions as the source topics, each with a leader): %w: %w; last error: %w",
				topic, partition, tries, ErrUnavailable, ctx.Err(), err)
		case <-t.C:
		}
		backoff = min(2*backoff, backoffMax)
		// kadm answers from the client's metadata cache, which keeps a
		// topic's absence or old partition count for metadata_min_age
		// (5s): a direct metadata request refreshes it.
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		req.RequestWith(ctx, cl) // errors: the next look reports them
	}
}

// bounds asks for the start and end offsets of one changelog partition.
func bounds(ctx context.Context, adm *kadm.Client, topic string, partition int32) (start, end int64, err error) {
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return 0, 0, fmt.Errorf("list end offsets of %s: %w", topic, err)
	}
	e, ok := ends.Lookup(topic, partition)
	if !ok {
		return 0, 0, fmt.Errorf("changelog %s has no partition %d: %w", topic, partition, errNotReady)
	}
	if e.Err != nil {
		return 0, 0, fmt.Errorf("end offset of %s/%d: %w", topic, partition, e.Err)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return 0, 0, fmt.Errorf("list start offsets of %s: %w", topic, err)
	}
	st, ok := starts.Lookup(topic, partition)
	if !ok {
		return 0, 0, fmt.Errorf("changelog %s has no partition %d: %w", topic, partition, errNotReady)
	}
	if st.Err != nil {
		return 0, 0, fmt.Errorf("start offset of %s/%d: %w", topic, partition, st.Err)
	}
	return st.Offset, e.Offset, nil
}

// retryable decides whether a restore waits and looks again: a partition
// not there yet, a Kafka error Kafka calls retriable (no leader, not
// leader, unknown topic or partition), or a failed request (broker
// unreachable). Kafka's non-retriable errors (authorization, invalid
// request) fail at once: waiting would not fix them.
func retryable(err error) bool {
	if errors.Is(err, errNotReady) {
		return true
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Retriable
	}
	return true
}
