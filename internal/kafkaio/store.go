// Package kafkaio is the Kafka side of SalesPulse other than the consumer
// (sources/kafka): topic creation and growth, producers, and StateStore,
// the one Kafka implementation of pipeline/state.Store that the window and
// anomaly stages checkpoint through. The stages know none of it; internal/app
// wires it in.
package kafkaio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/pipeline/state"
)

// StateConfig configures StateStore (YAML key state). Call SetDefaults,
// then Validate.
type StateConfig struct {
	// Topic is the compacted changelog every stage's state of every input
	// partition is checkpointed to: the state of input partition p, of
	// any input topic, lives in its partition p, so it needs as many
	// partitions as the widest input topic (Ensure). Default
	// salespulse.state.
	Topic string `yaml:"topic"`
	// CommitPollInterval is how long one fetch of the consumer group's
	// committed offsets answers Committed, for every partition. Default
	// 2s. The stages keep their state's history (and the detectors
	// their alerts for a redelivery) from the committed offset they last
	// heard of: with the consumer committing every second, 10s kept up
	// to ~11 s of every changed key's versions in memory, ~3× what 2s
	// keeps, for one offsets fetch per group every 2 s.
	CommitPollInterval time.Duration `yaml:"commit_poll_interval"`
	// RestoreTimeout bounds one partition's Load: waiting for its
	// changelog partition to exist with a leader, the claim, the read and
	// an upgrade's migration. A Load past it fails with
	// state.ErrUnavailable (wrapping ErrUnavailable when the partition
	// never became ready), so its batch is consumed again. Default 2m.
	RestoreTimeout time.Duration `yaml:"restore_timeout"`
	// LegacyTopics are the two changelog topics of releases before the
	// one store, read once per input partition to migrate its state
	// (docs/state.md). Position matters: the first is in the window
	// stage's old format (key topic 0x00 kind id; it was
	// window.changelog_topic), the second in the detectors' (key
	// topic/partition/kind/id; it was anomaly.changelog_topic). An empty
	// name skips that position; an empty list ([]) turns migration off.
	// Default [salespulse.state-changelog, salespulse.anomaly-changelog].
	LegacyTopics []string `yaml:"legacy_topics"`
	// TransactionalIDPrefix starts the transactional id of each input
	// partition's producer, <prefix>/<group>/<topic>/<partition>: the id
	// is what fences an earlier owner of the partition, so two
	// deployments sharing a cluster and consumer group must not share a
	// prefix. Default salespulse-state.
	TransactionalIDPrefix string `yaml:"transactional_id_prefix"`
}

// Configuration errors, wrapped with the YAML path of the key.
var (
	ErrTopicName   = errors.New("not a valid Kafka topic name")
	ErrNotPositive = errors.New("must be positive")
	ErrLegacy      = errors.New("at most two legacy topics (the window's format, then the detectors'), none of them the state topic")
	ErrEmpty       = errors.New("must not be empty")
)

// SetDefaults fills in what c leaves unset. LegacyTopics is unset when
// nil: an explicit empty list stays empty (no migration).
func (c *StateConfig) SetDefaults() {
	if c.Topic == "" {
		c.Topic = "salespulse.state"
	}
	if c.CommitPollInterval == 0 {
		c.CommitPollInterval = 2 * time.Second
	}
	if c.RestoreTimeout == 0 {
		c.RestoreTimeout = 2 * time.Minute
	}
	if c.LegacyTopics == nil {
		c.LegacyTopics = []string{"salespulse.state-changelog", "salespulse.anomaly-changelog"}
	}
	if c.TransactionalIDPrefix == "" {
		c.TransactionalIDPrefix = "salespulse-state"
	}
}

// Validate reports the first problem in c (after SetDefaults).
func (c StateConfig) Validate() error {
	if !validTopic(c.Topic) {
		return fmt.Errorf("state.topic: %q: %w", c.Topic, ErrTopicName)
	}
	if c.CommitPollInterval <= 0 {
		return fmt.Errorf("state.commit_poll_interval: %w", ErrNotPositive)
	}
	if c.RestoreTimeout <= 0 {
		return fmt.Errorf("state.restore_timeout: %w", ErrNotPositive)
	}
	if len(c.LegacyTopics) > 2 {
		return fmt.Errorf("state.legacy_topics: %w", ErrLegacy)
	}
	for i, t := range c.LegacyTopics {
		if t == c.Topic {
			return fmt.Errorf("state.legacy_topics[%d]: %q: %w", i, t, ErrLegacy)
		}
		if t != "" && !validTopic(t) {
			return fmt.Errorf("state.legacy_topics[%d]: %q: %w", i, t, ErrTopicName)
		}
	}
	if c.TransactionalIDPrefix == "" {
		return fmt.Errorf("state.transactional_id_prefix: %w", ErrEmpty)
	}
	return nil
}

func validTopic(s string) bool {
	if s == "" || len(s) > 249 || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// StateStore keeps the stages' state in one compacted changelog topic
// (state.Store). Record key: input topic, 0x00, namespace byte, the
// stage's key; value: the stage's bytes, unchanged; a nil value is a
// tombstone. Namespace 0 is the store's own: a claim record per Load
// ("claim") and a marker that the input topic's state in the partition
// was initialised, migrated from the legacy topics or found empty
// ("init").
//
// Fencing: each input partition (topic, partition) has its own
// transactional producer, id <prefix>/<group>/<topic>/<partition>, the
// way Kafka Streams fences a task. Load starts a new one, whose
// InitProducerID bumps the id's epoch: every earlier producer with that
// id (a zombie past revoke_timeout) can no longer write, and its open
// transaction is aborted. Load then commits a claim record and reads the
// partition with read_committed up to it. Every Save is one transaction,
// so a zombie's Save fails as a whole with state.ErrFenced and none of it
// is read by anyone.
//
// Safe for concurrent use; calls for one input partition are serialised.
type StateStore struct {
	cfg   StateConfig
	group string
	conn  []kgo.Opt
	adm   *kgo.Client // admin requests and waits; no group, produces nothing
	m     *stateMetrics
	log   *slog.Logger
	now   func() time.Time

	mu     sync.Mutex
	parts  map[inputPart]*claim
	closed bool

	// groups maps an input topic to the consumer group that consumes it
	// when not group (SetGroup): the internal lead topics have groups of
	// their own.
	groups map[string]string

	cmu     sync.Mutex                      // held across a fetch: one fetch serves every waiter
	offsets map[string]kadm.OffsetResponses // by group
	fetched map[string]time.Time
}

// SetGroup says that topic is consumed by group rather than the store's
// default group: its partitions' producers and committed offsets are that
// group's. Call it before the first Load of topic.
func (s *StateStore) SetGroup(topic, group string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.groups == nil {
		s.groups = map[string]string{}
	}
	s.groups[topic] = group
}

func (s *StateStore) groupOf(topic string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g, ok := s.groups[topic]; ok {
		return g
	}
	return s.group
}

var _ state.Store = (*StateStore)(nil)

type inputPart struct {
	topic     string
	partition int32
}

// claim is this instance's hold on one input partition.
type claim struct {
	mu sync.Mutex
	// prod is the partition's transactional producer; nil before the
	// first Load and after a failed Save (fenced or not: its transaction
	// state is unknown, and the next Load's new producer aborts whatever
	// it left open).
	prod *kgo.Client
	// cache holds the namespaces the last read returned that no Load has
	// taken yet; each is handed out once.
	cache map[state.Namespace]map[string][]byte
}

// scratch is Forward's: kgo keeps no reference to a record once Flush
// has returned. Pooled, not one per claim: a claim's scratch grew to its
// largest batch (a forwarded record per interaction, ~160 bytes each) and
// stayed, 36 claims × ~2.5 MB in a default process (three flows × 12
// partitions), ~90 MB of a 1M-event drain's live heap
// (benchmarks/README.md, "Memory"); the pool holds about as many as
// Forward calls run at once, each the size of a chunk (chunkBytes).
type scratch struct {
	recs []kgo.Record
	ptrs []*kgo.Record
	keys []byte
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// ErrClosed is returned by a StateStore used after Close.
var ErrClosed = errors.New("state store closed")

// errNoClaim: a Save without a current claim, which only a Load makes.
var errNoClaim = fmt.Errorf("no claim on the partition since its last fencing or failed save; load it again: %w", state.ErrFenced)

// Record kinds of namespace 0.
const (
	claimKey = "claim"
	initKey  = "init"
)

// NewStateStore returns a store of cfg.Topic for consumer group group,
// connecting with conn (seed brokers, client id, TLS, SASL: no consumer
// or producer options). cfg gets its defaults and is validated. Call
// Ensure before the first Load, and Close after the last Save.
//
// conn must not carry a kprom hook: the store opens and closes clients
// (a reader per Load, a producer per claim), and kprom unregisters its
// collectors when any client it hooks closes.
func NewStateStore(cfg StateConfig, group string, conn []kgo.Opt, reg prometheus.Registerer, log *slog.Logger) (*StateStore, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if group == "" {
		return nil, errors.New("state store: a consumer group is required (committed offsets, transactional ids)")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	conn = slices.Clip(conn)
	adm, err := kgo.NewClient(conn...)
	if err != nil {
		return nil, fmt.Errorf("state store client: %w", err)
	}
	return &StateStore{
		cfg: cfg, group: group, conn: conn, adm: adm, m: newStateMetrics(reg),
		log: log.With("component", "state"), now: time.Now, parts: map[inputPart]*claim{},
	}, nil
}

// Ensure creates the compacted state topic with partitions partitions
// when missing and grows it to at least that many: the widest input
// topic's partition count (MaxPartitions).
func (s *StateStore) Ensure(ctx context.Context, partitions int32) error {
	if err := EnsureCompactedTopic(ctx, s.adm, s.cfg.Topic, partitions, -1); err != nil {
		return err
	}
	return GrowPartitions(ctx, s.adm, s.cfg.Topic, partitions)
}

// Close closes every producer and the admin client. The store must not be
// used after.
func (s *StateStore) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	for _, c := range s.parts {
		c.mu.Lock()
		c.drop()
		c.mu.Unlock()
	}
	s.adm.Close()
}

// Release gives up this instance's claim on an input partition: its
// producer is closed and its cached maps dropped, so a revoked partition
// holds neither a client nor state in memory. A Save of it then fails with
// state.ErrFenced until a Load claims it again. Optional: without it a
// revoked partition's producer stays open (harmless: the new owner's claim
// fences it) until the partition's next Load or Close.
func (s *StateStore) Release(topic string, partition int32) {
	s.mu.Lock()
	c := s.parts[inputPart{topic, partition}]
	delete(s.parts, inputPart{topic, partition})
	s.mu.Unlock()
	if c != nil {
		c.mu.Lock()
		c.drop()
		c.mu.Unlock()
	}
}

// errStoreNamespace: namespace 0 holds the store's own records.
var errStoreNamespace = errors.New("namespace 0 is the state store's own")

func (s *StateStore) claimOf(ns state.Namespace, topic string, partition int32) (*claim, error) {
	if ns == 0 {
		return nil, errStoreNamespace
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	k := inputPart{topic, partition}
	c := s.parts[k]
	if c == nil {
		c = &claim{}
		s.parts[k] = c
	}
	return c, nil
}

// drop forgets the claim: its producer is closed without ending its
// transaction (the next claim's InitProducerID aborts it; asking a
// fenced franz-go producer to abort would make it re-initialise its
// producer id, which a lenient broker accepts, fencing the new owner).
func (c *claim) drop() {
	if c.prod != nil {
		c.prod.Close()
		c.prod = nil
	}
	c.cache = nil
}

// Load returns ns's state of the input partition. The first Load of a
// partition assignment claims the partition (fencing an earlier owner)
// and reads it once for every namespace: a Load of another namespace
// that follows is served from that read, once, without reading or
// claiming again.
func (s *StateStore) Load(ctx context.Context, ns state.Namespace, topic string, partition int32) (map[string][]byte, error) {
	c, err := s.claimOf(ns, topic, partition)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if m, ok := c.cache[ns]; ok {
		delete(c.cache, ns)
		return m, nil
	}
	start := s.now()
	c.drop()
	rctx, cancel := context.WithTimeout(ctx, s.cfg.RestoreTimeout)
	defer cancel()
	all, keys, migrated, err := s.restore(rctx, c, topic, partition)
	if err != nil {
		// Unless the caller is stopping, a restore that failed, or did not
		// finish within restore_timeout, leaves the store unavailable for
		// now: the pipeline consumes the batch again, and the next Load
		// claims anew. A read held back by a transaction left open (a
		// broker restart, a producer gone mid-transaction) then goes on
		// once the broker aborts it, instead of the process exiting.
		if ctx.Err() == nil || errors.Is(err, ErrUnavailable) {
			err = fmt.Errorf("%w: %w", state.ErrUnavailable, err)
		}
		return nil, fmt.Errorf("load %s state of %s/%d from %s: %w", nsName(ns), topic, partition, s.cfg.Topic, err)
	}
	// The stages' namespaces are kept even when empty: the other stage's
	// Load of a partition without state must not read (and claim) again.
	for _, o := range []state.Namespace{state.Window, state.Anomaly, state.Dedup, state.Route, state.Resolve} {
		if all[o] == nil {
			all[o] = map[string][]byte{}
		}
	}
	m := all[ns]
	if m == nil {
		m = map[string][]byte{}
	}
	delete(all, ns)
	c.cache = all
	d := s.now().Sub(start)
	s.m.restores.Inc()
	s.m.restoreSeconds.Observe(d.Seconds())
	s.log.Info("partition state loaded", "topic", topic, "partition", partition, "keys", keys, "migrated", migrated, "duration", d)
	return m, nil
}

// restore claims the input partition with a new producer and reads its
// state up to the claim, migrating the legacy topics' state first if the
// partition's state of topic was never initialised. It returns every
// namespace's state and the number of keys and of migrated records; on
// success c.prod is the new producer.
func (s *StateStore) restore(ctx context.Context, c *claim, topic string, partition int32) (map[state.Namespace]map[string][]byte, int, int, error) {
	if _, _, err := waitPartition(ctx, s.adm, s.cfg.Topic, partition, s.log); err != nil {
		return nil, 0, 0, err
	}
	txnID := s.cfg.TransactionalIDPrefix + "/" + s.groupOf(topic) + "/" + topic + "/" + strconv.Itoa(int(partition))
	prod, err := kgo.NewClient(append(s.conn,
		kgo.TransactionalID(txnID),
		kgo.RecordPartitioner(s.partitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchMaxBytes(4<<20),
	)...)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("producer %s: %w", txnID, err)
	}
	ok := false
	defer func() {
		if !ok {
			prod.Close()
		}
	}()
	// The claim's transaction is the producer's first: its
	// InitProducerID fences every earlier producer of txnID.
	claimRec := s.record(topic, partition, 0, claimKey, []byte(fmt.Sprintf("claimed by %s at %s", txnID, s.now().UTC().Format(time.RFC3339Nano))))
	if err := commit(ctx, prod, []*kgo.Record{claimRec}); err != nil {
		return nil, 0, 0, fmt.Errorf("claim: %w", fencedErr(err))
	}

	all := map[state.Namespace]map[string][]byte{}
	initialised := false
	prefix := topic + "\x00"
	var prevClaim []byte // the claim before ours
	err = readPartition(ctx, s.conn, s.cfg.Topic, partition, claimRec.Offset, true, func(r *kgo.Record) error {
		rest, ok := bytes.CutPrefix(r.Key, []byte(prefix))
		if !ok || len(rest) == 0 {
			return nil // another input topic's, or not ours
		}
		ns, key := state.Namespace(rest[0]), string(rest[1:])
		if ns == 0 {
			initialised = initialised || key == initKey
			if key == claimKey && r.Offset < claimRec.Offset {
				prevClaim = r.Value
			}
			return nil
		}
		apply(all, ns, key, r.Value)
		return nil
	})
	if err != nil {
		return nil, 0, 0, err
	}

	s.foreignClaim(topic, partition, txnID, prevClaim)

	migrated := 0
	if !initialised {
		// First Load of topic's state in this partition: migrate the
		// legacy topics' state, and mark the partition initialised in
		// the same transaction, so the migration happens exactly once.
		// A crash before the commit leaves no mark, and the next Load
		// migrates; a new owner claiming meanwhile fences the commit.
		recs, from, err := s.legacy(ctx, topic, partition)
		if err != nil {
			return nil, 0, 0, fmt.Errorf("migrate legacy state: %w", err)
		}
		mark := fmt.Sprintf("initialised at %s by %s; %d records migrated from %v", s.now().UTC().Format(time.RFC3339Nano), txnID, len(recs), from)
		if err := commit(ctx, prod, append(recs, s.record(topic, partition, 0, initKey, []byte(mark)))); err != nil {
			return nil, 0, 0, fmt.Errorf("migrate legacy state: %w", fencedErr(err))
		}
		for _, r := range recs {
			rest := r.Key[len(prefix):]
			apply(all, state.Namespace(rest[0]), string(rest[1:]), r.Value)
		}
		migrated = len(recs)
		s.m.migrated.Add(float64(migrated))
		if migrated > 0 {
			s.log.Info("legacy state migrated", "topic", topic, "partition", partition, "records", migrated, "from", from)
		}
	}
	keys := 0
	for _, m := range all {
		keys += len(m)
	}
	ok = true
	c.prod = prod
	return all, keys, migrated, nil
}

// foreignClaim reports a partition's state last claimed under another
// transactional id than txnID: another consumer group (or another
// transactional_id_prefix) keeps state of the same input partition in
// this state topic. That is expected once, when a new group replaces an
// old one (a replay restores the old state on purpose); while both run,
// each restores the other's state and nothing else says so
// (docs/state.md).
func (s *StateStore) foreignClaim(topic string, partition int32, txnID string, prev []byte) {
	by, ok := bytes.CutPrefix(prev, []byte("claimed by "))
	if !ok {
		return // none before ours (a claim record always starts so)
	}
	if k := bytes.LastIndex(by, []byte(" at ")); k >= 0 {
		by = by[:k]
	}
	if string(by) == txnID {
		return
	}
	s.m.foreign.Inc()
	s.log.Warn("this partition's state was last claimed under another transactional id: another consumer group keeps state of the same input in this state topic; "+
		"fine once when a new group replaces the old one, wrong while both run (give each deployment its own state.topic, docs/state.md)",
		"topic", topic, "partition", partition, "state_topic", s.cfg.Topic, "previous", string(by), "this", txnID)
}

func apply(all map[state.Namespace]map[string][]byte, ns state.Namespace, key string, val []byte) {
	m := all[ns]
	if m == nil {
		m = map[string][]byte{}
		all[ns] = m
	}
	if val == nil {
		delete(m, key)
	} else {
		// A copy: the record's value shares its fetch's buffer, which
		// the returned map would otherwise keep alive whole.
		m[key] = bytes.Clone(val)
	}
}

// record is a state record of input partition (topic, partition).
func (s *StateStore) record(topic string, partition int32, ns state.Namespace, key string, val []byte) *kgo.Record {
	k := make([]byte, 0, len(topic)+2+len(key))
	k = append(append(append(k, topic...), 0, byte(ns)), key...)
	return &kgo.Record{Topic: s.cfg.Topic, Partition: partition, Key: k, Value: val}
}

// commit produces recs in one transaction of prod and commits it. On an
// error the transaction may be left open: the caller drops prod, and the
// next claim's InitProducerID aborts it.
func commit(ctx context.Context, prod *kgo.Client, recs []*kgo.Record) error {
	if err := prod.BeginTransaction(); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("produce %d records: %w", len(recs), err)
	}
	if err := prod.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return fmt.Errorf("commit transaction: %w", err)
	}
	return nil
}

// fenced reports whether err says another producer with the same
// transactional id has initialised since this one: the partition has a
// new owner. InvalidProducerEpoch is what a produce gets, ProducerFenced
// what the transaction coordinator answers; InvalidProducerIDMapping means
// the coordinator no longer knows this producer (its id expired or was
// taken over), which a new claim also resolves. franz-go wraps these when
// it failed its producer id on them, so errors.Is finds them either way.
func fenced(err error) bool {
	return errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) ||
		errors.Is(err, kerr.InvalidProducerIDMapping)
}

// fencedErr wraps err with state.ErrFenced when it is a fencing.
func fencedErr(err error) error {
	if fenced(err) {
		return fmt.Errorf("%w: %w", state.ErrFenced, err)
	}
	return err
}

// Save writes recs of ns's state of the input partition in one
// transaction and returns when it is committed. It fails with
// state.ErrFenced (wrapped) when another owner claimed the partition
// since this instance's last Load of it, or when no Load claimed it since
// a failed Save: after any failure, the partition must be loaded again.
func (s *StateStore) Save(ctx context.Context, ns state.Namespace, topic string, partition int32, recs []state.Record) error {
	return s.Forward(ctx, ns, topic, partition, recs, nil)
}

var _ state.Forwarder = (*StateStore)(nil)

// Forward is Save that also produces msgs in the same transaction, to
// their topics' partitions by key (murmur2, as Kafka's default
// partitioner), so a consumer reading read_committed sees a batch's
// messages exactly when its state is saved.
func (s *StateStore) Forward(ctx context.Context, ns state.Namespace, topic string, partition int32, recs []state.Record, msgs []state.Message) error {
	c, err := s.claimOf(ns, topic, partition)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.cache, ns) // stale from now on
	if c.prod == nil {
		s.m.fenced.Inc()
		return fmt.Errorf("save %s state of %s/%d: %w", nsName(ns), topic, partition, errNoClaim)
	}
	if len(recs) == 0 && len(msgs) == 0 {
		return nil
	}
	size, err := s.produce(ctx, c.prod, ns, topic, partition, recs, msgs)
	if err != nil {
		c.drop()
		if fenced(err) {
			s.m.fenced.Inc()
			s.log.Warn("state save fenced: another instance claimed the partition", "topic", topic, "partition", partition, "err", err)
			return fmt.Errorf("save %s state of %s/%d: %w: %w", nsName(ns), topic, partition, state.ErrFenced, err)
		}
		return fmt.Errorf("save %s state of %s/%d: %w: %w", nsName(ns), topic, partition, state.ErrUnavailable, err)
	}
	w := s.m.written(ns)
	w.records.Add(float64(len(recs)))
	w.bytes.Add(float64(size))
	if len(msgs) > 0 {
		s.m.forwarded.Add(float64(len(msgs)))
	}
	return nil
}

// chunkBytes and chunkRecords bound one chunk of a Forward, in bytes of
// keys and values and in records: the records of a transaction are
// produced a chunk at a time, each flushed before the next is made.
//
// Produced at once, a transaction's records (a batch's forwarded
// interactions, up to kafka.batch_max_rows of ~300 bytes each) sat in the
// claim producer's buffers whole, and its produce request was encoded into
// one buffer of that size that the producer's pool then kept: per claim,
// and a default process has 36 of them (three flows × 12 partitions),
// ~50 MB of a 1M-event drain's peak heap besides the records in flight
// (benchmarks/README.md, "Memory"). A chunk bounds both, and the scratch
// records (~160 bytes each: the count bounds them for small state records,
// dedup ids of ~55 bytes). The flush also ends the producer's linger
// (10 ms by default) at once instead of waiting it out per transaction.
const (
	chunkBytes   = 256 << 10
	chunkRecords = 2048
)

// produce produces msgs, then recs (keys prefixed with the input topic and
// ns), in one transaction of prod, a chunk at a time, and commits it. It
// returns the bytes of state written. On an error the transaction may be
// left open: the caller drops prod, and the next claim's InitProducerID
// aborts it.
func (s *StateStore) produce(ctx context.Context, prod *kgo.Client, ns state.Namespace, topic string, partition int32, recs []state.Record, msgs []state.Message) (int, error) {
	if err := prod.BeginTransaction(); err != nil {
		return 0, fmt.Errorf("begin transaction: %w", err)
	}
	var (
		mu    sync.Mutex
		first error
	)
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			mu.Lock()
			if first == nil {
				first = err
			}
			mu.Unlock()
		}
	}
	sc := scratchPool.Get().(*scratch)
	size := 0
	total := len(msgs) + len(recs)
	for at := 0; at < total; {
		// The chunk is [at, end): its keys' arena is sized first, so
		// that the keys sliced off it never move.
		end, n, keys := at, 0, 0
		for ; end < total && (end == at || n < chunkBytes && end-at < chunkRecords); end++ {
			if end < len(msgs) {
				n += len(msgs[end].Key) + len(msgs[end].Value)
			} else {
				r := recs[end-len(msgs)]
				keys += len(topic) + 2 + len(r.Key)
				n += len(topic) + 2 + len(r.Key) + len(r.Value)
			}
		}
		sc.keys = slices.Grow(sc.keys[:0], keys)
		sc.recs, sc.ptrs = sc.recs[:0], sc.ptrs[:0]
		// One timestamp for the chunk, which is produced at once: kgo
		// reads the clock per record that has none, and a clock read
		// costs ~88 ns on the benchmark machine (1.1 % of a default drain's
		// CPU at ~3 records per event).
		now := time.Now().Truncate(time.Millisecond)
		for k := at; k < end; k++ {
			if k < len(msgs) {
				m := msgs[k]
				sc.recs = append(sc.recs, kgo.Record{Topic: m.Topic, Key: m.Key, Value: m.Value, Partition: m.Partition, Timestamp: now})
				continue
			}
			r := recs[k-len(msgs)]
			k0 := len(sc.keys)
			sc.keys = append(append(append(sc.keys, topic...), 0, byte(ns)), r.Key...)
			sc.recs = append(sc.recs, kgo.Record{Topic: s.cfg.Topic, Partition: partition, Key: sc.keys[k0:len(sc.keys):len(sc.keys)], Value: r.Value, Timestamp: now})
			size += len(sc.keys) - k0 + len(r.Value)
		}
		for k := range sc.recs {
			sc.ptrs = append(sc.ptrs, &sc.recs[k])
		}
		for _, r := range sc.ptrs {
			prod.Produce(ctx, r, promise)
		}
		// Flush returns once every promise of the chunk ran, unless ctx
		// ends first: then records may still be buffered, and the
		// scratch is left to the collector rather than reused.
		if err := prod.Flush(ctx); err != nil {
			return 0, fmt.Errorf("produce %d records: %w", end-at, err)
		}
		clear(sc.recs) // no values kept past the call
		clear(sc.ptrs)
		mu.Lock()
		err := first
		mu.Unlock()
		if err != nil {
			scratchPool.Put(sc)
			return 0, fmt.Errorf("produce %d records: %w", end-at, err)
		}
		at = end
	}
	scratchPool.Put(sc)
	if err := prod.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return 0, fmt.Errorf("commit transaction: %w", err)
	}
	return size, nil
}

// partitioner places state records where they say (the input
// partition's) and forwarded messages by key, the way Kafka's default
// partitioner does, so every producer agrees where a key goes.
func (s *StateStore) partitioner() kgo.Partitioner {
	keyed := kgo.StickyKeyPartitioner(nil)
	return kgo.BasicConsistentPartitioner(func(topic string) func(*kgo.Record, int) int {
		if topic == s.cfg.Topic {
			return func(r *kgo.Record, _ int) int { return int(r.Partition) }
		}
		tp := keyed.ForTopic(topic)
		return func(r *kgo.Record, n int) int {
			if r.Key == nil { // a progress mark, addressed to its partition
				return int(r.Partition)
			}
			return tp.Partition(r, n)
		}
	})
}

// Committed returns the consumer group's committed offset of the input
// partition, -1 when there is none. One fetch of all the group's offsets
// answers every partition for commit_poll_interval: a stale answer is
// lower, never higher, than the truth, and a lower committed offset only
// keeps more history.
func (s *StateStore) Committed(ctx context.Context, topic string, partition int32) (int64, error) {
	group := s.groupOf(topic)
	s.cmu.Lock()
	defer s.cmu.Unlock()
	if s.offsets == nil {
		s.offsets, s.fetched = map[string]kadm.OffsetResponses{}, map[string]time.Time{}
	}
	if now := s.now(); s.offsets[group] == nil || now.Sub(s.fetched[group]) >= s.cfg.CommitPollInterval {
		resp, err := kadm.NewClient(s.adm).FetchOffsets(ctx, group)
		if errors.Is(err, kerr.GroupIDNotFound) {
			// A group that never committed (brokers with the KIP-848
			// coordinator say so rather than answer with no offsets).
			resp, err = kadm.OffsetResponses{}, nil
		}
		if err != nil {
			return 0, fmt.Errorf("fetch committed offsets of group %s: %w", group, err)
		}
		if resp == nil {
			resp = kadm.OffsetResponses{}
		}
		s.offsets[group], s.fetched[group] = resp, now
	}
	o, ok := s.offsets[group].Lookup(topic, partition)
	if !ok {
		return -1, nil
	}
	if o.Err != nil {
		return 0, fmt.Errorf("fetch committed offset of %s/%d: %w", topic, partition, o.Err)
	}
	if o.At < 0 {
		return -1, nil
	}
	return o.At, nil
}

// nsName names a namespace in errors, logs and metric labels.
func nsName(ns state.Namespace) string {
	switch ns {
	case state.Window:
		return "window"
	case state.Anomaly:
		return "anomaly"
	case state.Route:
		return "route"
	case state.Resolve:
		return "resolve"
	case state.Dedup:
		return "dedup"
	}
	return fmt.Sprintf("0x%02x", byte(ns))
}
