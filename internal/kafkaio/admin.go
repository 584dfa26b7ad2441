package kafkaio

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// EnsureCompactedTopic creates topic with cleanup.policy=compact and
// partitions partitions when missing. Replication factor -1 is the
// broker's default.replication.factor. An existing topic is left alone
// (GrowPartitions widens it).
func EnsureCompactedTopic(ctx context.Context, cl *kgo.Client, topic string, partitions int32, replicationFactor int16) error {
	compact := "compact"
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, replicationFactor, map[string]*string{"cleanup.policy": &compact}, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create compacted topic %s: %w", topic, err)
	}
	return nil
}

// EnsureTopics creates the topics SalesPulse itself produces to — dead
// letters, alerts, parked alert deliveries — when missing, with parts
// partitions and the broker's default replication factor. Without them
// every batch with a dead letter or an alert fails to be acknowledged and
// the pipeline stalls on a fresh cluster that does not auto-create.
func EnsureTopics(ctx context.Context, cl *kgo.Client, parts int32, topics ...string) error {
	resp, err := kadm.NewClient(cl).CreateTopics(ctx, parts, -1, nil, topics...)
	if err != nil {
		return fmt.Errorf("create output topics: %w", err)
	}
	for _, r := range resp {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", r.Topic, r.Err)
		}
	}
	return nil
}

// GrowPartitions raises topic's partition count to at least parts. A
// changelog holds partition p's state in its partition p, so it needs as
// many partitions as the widest source topic; one created earlier by an
// instance with fewer or narrower topics (or before the source topics grew)
// would make every restore of the higher partitions fail. New changelog
// partitions start empty, which is right: nothing was checkpointed there.
func GrowPartitions(ctx context.Context, cl *kgo.Client, topic string, parts int32) error {
	adm := kadm.NewClient(cl)
	md, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return fmt.Errorf("describe %s: %w", topic, err)
	}
	d, ok := md[topic]
	if !ok || d.Err != nil || int32(len(d.Partitions)) >= parts {
		return nil // just created with parts partitions, or already wide enough
	}
	resp, err := adm.UpdatePartitions(ctx, int(parts), topic)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return fmt.Errorf("grow %s from %d to %d partitions: %w", topic, len(d.Partitions), parts, err)
	}
	return nil
}

// EndOffsets returns the end offset of every partition of topics that
// exist: a partition that never held a record has 0.
func EndOffsets(ctx context.Context, cl *kgo.Client, topics []string) (map[string]map[int32]int64, error) {
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("list end offsets: %w", err)
	}
	out := map[string]map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			return
		}
		if out[o.Topic] == nil {
			out[o.Topic] = map[int32]int64{}
		}
		out[o.Topic][o.Partition] = o.Offset
	})
	return out, nil
}

// MaxPartitions is the largest partition count among topics that exist
// (at least 1); a changelog of their state needs at least that many.
func MaxPartitions(ctx context.Context, cl *kgo.Client, topics []string) (int32, error) {
	md, err := kadm.NewClient(cl).ListTopics(ctx, topics...)
	if err != nil {
		return 0, fmt.Errorf("list topics: %w", err)
	}
	n := int32(1)
	for _, t := range md {
		if t.Err == nil {
			n = max(n, int32(len(t.Partitions)))
		}
	}
	return n, nil
}
