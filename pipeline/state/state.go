// Package state declares what the stateful stages (window, anomaly) need
// to survive restarts, crashes and rebalances: a store of per-partition
// key/value state, checkpointed before a batch is acknowledged and restored
// when a partition's batches start at an offset a stage did not expect.
//
// The stages declare it and know nothing of where it lives; the Kafka
// implementation (one compacted changelog topic, partitioned like the
// input, fenced per input partition) is wired in by internal/app. Memory
// is an in-process implementation for tests and for running without
// durability.
package state

import (
	"context"
	"errors"
)

// Namespace separates the stages' keys inside one partition's state: each
// stage owns one and never reads another's.
type Namespace byte

// The stages' namespaces.
const (
	Window  Namespace = 'w'
	Anomaly Namespace = 'a'
	Route   Namespace = 'r' // leads.Router: what was forwarded
	Resolve Namespace = 'l' // leads.Resolver: identities, waiting touches
	Dedup   Namespace = 'd' // leads.Dedup: event ids recently seen
)

// Record is one key's new value; a nil Value deletes the key.
type Record struct {
	Key   []byte
	Value []byte
}

// Store keeps each input partition's state. Keys are the stage's own:
// the store scopes them by namespace and input partition, so stages never
// encode the topic or partition into a key.
//
// The store decides nothing about what a value means; versioning by
// offset (what a restore at offset F keeps) is the stage's business.
type Store interface {
	// Load returns the latest value of every key ns holds for input
	// partition (topic, partition). It is called when a stage starts or
	// resumes a partition (assignment, restart, a redelivery it cannot
	// serve from memory): the store may claim the partition then, fencing
	// an earlier owner's writes. The returned values may be kept.
	Load(ctx context.Context, ns Namespace, topic string, partition int32) (map[string][]byte, error)
	// Save writes recs durably and returns only when they are (the
	// batch that produced them may be acknowledged after). It fails with
	// ErrFenced when another owner has claimed the partition since this
	// instance's last Load of it. recs and their slices may be reused
	// by the caller once Save returns.
	Save(ctx context.Context, ns Namespace, topic string, partition int32, recs []Record) error
	// Committed is the consumer group's committed offset of the input
	// partition, -1 when there is none. No restore starts below it, so a
	// stage may forget history below it. The store may answer from a
	// cache refreshed every commit_poll_interval.
	Committed(ctx context.Context, topic string, partition int32) (int64, error)
}

// Message is a record for one of SalesPulse's own topics, partitioned by
// Key the way Kafka's default partitioner does (murmur2), so equal keys
// meet in one partition.
type Message struct {
	Topic string
	Key   []byte // nil: to Partition
	Value []byte
	// Partition is where a message without a Key goes (progress marks
	// sent to every partition).
	Partition int32
}

// Forwarder is a Store that can also send messages in the transaction
// that saves state, the way a Kafka Streams task commits its output, its
// changelog and its position together: after a crash either all of a
// batch's messages and its state are visible (read_committed) or none.
type Forwarder interface {
	Store
	// Forward saves recs of ns's state of the input partition and sends
	// msgs, all or nothing; like Save it fails with ErrFenced when another
	// owner claimed the partition. msgs and their slices may be reused
	// once it returns.
	Forward(ctx context.Context, ns Namespace, topic string, partition int32, recs []Record, msgs []Message) error
}

// ErrUnavailable is returned (wrapped) by a store that could not reach
// its storage (a broker restarting): nothing was saved or the outcome is
// unknown, and the stage has forgotten the partition; consuming the batch
// again (it loads the partition first) is the remedy.
var ErrUnavailable = errors.New("state: store unavailable")

// ErrFenced is returned (wrapped) by Save when another instance claimed
// the partition: this instance's state of it is stale and must be loaded
// again before it is written.
var ErrFenced = errors.New("state: partition claimed by another owner")
