// Package offsets commits a consumer group's offsets, each partition with
// its own metadata: the Kafka source records its cut plan there.
package offsets

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Set is what to commit, by topic and partition.
type Set map[string]map[int32]Offset

// Offset is one partition's commit: the next offset to consume and the
// metadata stored beside it.
type Offset struct {
	At   int64
	Meta string
}

// Add sets the commit of topic's partition.
func (s Set) Add(topic string, partition int32, o Offset) {
	if s[topic] == nil {
		s[topic] = make(map[int32]Offset)
	}
	s[topic][partition] = o
}

// Commit commits set synchronously and reports the first failure,
// request-level or per partition. kgo's CommitOffsetsSync takes no
// per-partition metadata: a pre-commit hook writes it into the request.
func Commit(ctx context.Context, cl *kgo.Client, set Set) error {
	if len(set) == 0 {
		return nil
	}
	offs := make(map[string]map[int32]kgo.EpochOffset, len(set))
	for t, ps := range set {
		offs[t] = make(map[int32]kgo.EpochOffset, len(ps))
		for p, o := range ps {
			offs[t][p] = kgo.EpochOffset{Epoch: -1, Offset: o.At}
		}
	}
	ctx = kgo.PreCommitFnContext(ctx, func(req *kmsg.OffsetCommitRequest) error {
		for i := range req.Topics {
			t := &req.Topics[i]
			for j := range t.Partitions {
				pp := &t.Partitions[j]
				if o, ok := set[t.Topic][pp.Partition]; ok {
					pp.Metadata = &o.Meta
				}
			}
		}
		return nil
	})
	var cerr error
	cl.CommitOffsetsSync(ctx, offs, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
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
	return cerr
}
