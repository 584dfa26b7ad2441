package state

import (
	"context"
	"sync"
)

// Memory is a Store in process memory: state survives a stage's restore
// (a redelivery, a new Stage on the same Memory) but not the process. For
// tests, and for deployments that accept losing open leads on restart.
// Committed answers from SetCommitted; Loads and Saves count calls per
// partition, and FailWith makes both fail, for tests of what a stage asks
// of its store. Safe for concurrent use.
type Memory struct {
	mu        sync.Mutex
	parts     map[memKey]map[string][]byte
	committed map[memPart]int64
	loads     map[int32]int
	saves     map[int32]int
	sent      map[string][]Message
	fail      error
}

type memPart struct {
	topic     string
	partition int32
}

type memKey struct {
	ns Namespace
	memPart
}

var _ Forwarder = (*Memory)(nil)

// NewMemory returns an empty Memory store.
func NewMemory() *Memory {
	return &Memory{parts: map[memKey]map[string][]byte{}, committed: map[memPart]int64{}, loads: map[int32]int{}, saves: map[int32]int{}}
}

// Load returns a copy of ns's state of the partition.
func (m *Memory) Load(_ context.Context, ns Namespace, topic string, partition int32) (map[string][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.loads[partition]++
	if m.fail != nil {
		return nil, m.fail
	}
	out := map[string][]byte{}
	for k, v := range m.parts[memKey{ns, memPart{topic, partition}}] {
		out[k] = v
	}
	return out, nil
}

// Save applies recs, copying them.
func (m *Memory) Save(_ context.Context, ns Namespace, topic string, partition int32, recs []Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.saves[partition]++
	if m.fail != nil {
		return m.fail
	}
	k := memKey{ns, memPart{topic, partition}}
	p := m.parts[k]
	if p == nil {
		p = map[string][]byte{}
		m.parts[k] = p
	}
	for _, r := range recs {
		if r.Value == nil {
			delete(p, string(r.Key))
		} else {
			p[string(r.Key)] = append([]byte(nil), r.Value...)
		}
	}
	return nil
}

// Forward saves recs like Save and appends msgs to what Sent returns.
func (m *Memory) Forward(ctx context.Context, ns Namespace, topic string, partition int32, recs []Record, msgs []Message) error {
	if err := m.Save(ctx, ns, topic, partition, recs); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sent == nil {
		m.sent = map[string][]Message{}
	}
	for _, msg := range msgs {
		m.sent[msg.Topic] = append(m.sent[msg.Topic], Message{Topic: msg.Topic, Partition: msg.Partition,
			Key: append([]byte(nil), msg.Key...), Value: append([]byte(nil), msg.Value...)})
	}
	return nil
}

// Sent returns the messages forwarded to topic, in order, and forgets
// them.
func (m *Memory) Sent(topic string) []Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.sent[topic]
	delete(m.sent, topic)
	return out
}

// Committed returns what SetCommitted set, else -1.
func (m *Memory) Committed(_ context.Context, topic string, partition int32) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.committed[memPart{topic, partition}]; ok {
		return c, nil
	}
	return -1, nil
}

// SetCommitted sets the committed offset Committed reports.
func (m *Memory) SetCommitted(topic string, partition int32, offset int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.committed[memPart{topic, partition}] = offset
}

// Loads counts Load calls for partition (of any topic and namespace).
func (m *Memory) Loads(partition int32) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.loads[partition]
}

// Saves counts Save calls for partition (of any topic and namespace).
func (m *Memory) Saves(partition int32) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.saves[partition]
}

// FailWith makes Load and Save return err (still counted) until it is
// called with nil.
func (m *Memory) FailWith(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fail = err
}
