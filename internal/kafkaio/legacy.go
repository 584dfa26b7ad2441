package kafkaio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/pipeline/state"
)

// Upgrade from the two changelog topics of releases before the one store.
// Both held, per input partition p, the state in their partition p; the
// values are the stages' bytes, which the store keeps unchanged, so only
// keys are converted:
//   - the window's (first legacy topic): topic 0x00 kind id -> namespace
//     state.Window, key kind id;
//   - the detectors' (second): topic/partition/kind/id -> namespace
//     state.Anomaly, key kind id.

// legacyConv converts a legacy key of input partition (topic, partition)
// to the namespace and stage key it becomes; false: another partition's,
// or not a state key.
type legacyConv func(key []byte, topic string, partition int32) (state.Namespace, []byte, bool)

// legacyConvs are the conversions of StateConfig.LegacyTopics, by
// position.
var legacyConvs = []legacyConv{windowLegacyKey, anomalyLegacyKey}

func windowLegacyKey(k []byte, topic string, _ int32) (state.Namespace, []byte, bool) {
	rest, ok := bytes.CutPrefix(k, []byte(topic))
	if !ok || len(rest) < 2 || rest[0] != 0 {
		return 0, nil, false
	}
	return state.Window, rest[1:], true
}

func anomalyLegacyKey(k []byte, topic string, partition int32) (state.Namespace, []byte, bool) {
	prefix := strconv.AppendInt(append([]byte(topic), '/'), int64(partition), 10)
	rest, ok := bytes.CutPrefix(k, append(prefix, '/'))
	if !ok || len(rest) < 2 || rest[1] != '/' {
		return 0, nil, false
	}
	return state.Anomaly, append([]byte{rest[0]}, rest[2:]...), true
}

// legacy reads partition p of each legacy topic that has one and returns
// the latest state of topic it holds, converted to state records (in key
// order; deleted keys are left out), and the legacy topics it read.
func (s *StateStore) legacy(ctx context.Context, topic string, partition int32) ([]*kgo.Record, []string, error) {
	var (
		out  []*kgo.Record
		from []string
	)
	for i, lt := range s.cfg.LegacyTopics {
		if lt == "" {
			continue
		}
		ok, err := s.hasPartition(ctx, lt, partition)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			continue
		}
		start, end, err := waitPartition(ctx, s.adm, lt, partition, s.log)
		if err != nil {
			return nil, nil, err
		}
		from = append(from, lt)
		if start >= end {
			continue
		}
		conv := legacyConvs[i]
		latest := map[string][]byte{}
		// The legacy changelogs were written without transactions:
		// their last record is a data record, end-1.
		err = readPartition(ctx, s.conn, lt, partition, end-1, false, func(r *kgo.Record) error {
			ns, key, ok := conv(r.Key, topic, partition)
			if !ok {
				return nil
			}
			k := string(append([]byte{byte(ns)}, key...))
			if r.Value == nil {
				delete(latest, k)
			} else {
				latest[k] = bytes.Clone(r.Value)
			}
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("read legacy %s: %w", lt, err)
		}
		for _, k := range slices.Sorted(maps.Keys(latest)) {
			out = append(out, s.record(topic, partition, state.Namespace(k[0]), k[1:], latest[k]))
		}
	}
	return out, from, nil
}

// hasPartition reports whether topic exists with partition: a legacy topic
// that was never created (a fresh deployment) or is narrower holds no
// state of it. One that exists is waited for like the state topic.
func (s *StateStore) hasPartition(ctx context.Context, topic string, partition int32) (bool, error) {
	md, err := kadm.NewClient(s.adm).ListTopics(ctx, topic)
	if err != nil {
		return false, fmt.Errorf("describe legacy %s: %w", topic, err)
	}
	d, ok := md[topic]
	if !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
		return false, nil
	}
	if d.Err != nil {
		return false, fmt.Errorf("describe legacy %s: %w", topic, d.Err)
	}
	_, ok = d.Partitions[partition]
	return ok, nil
}
