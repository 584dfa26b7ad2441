// Package deadletter builds the dead letters of the Kafka source: a copy
// of a record that cannot become interactions, with the reason in its
// headers, and the wait that keeps a batch from being committed before
// its dead letters are in Kafka.
package deadletter

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/schemas"
)

// Header names; sources/kafka exports them for producers and the runbook.
const (
	HeaderError     = "salespulse-error"
	HeaderSource    = "salespulse-source"
	HeaderField     = "salespulse-field"
	HeaderRule      = "salespulse-rule"
	HeaderTopic     = "salespulse-topic"
	HeaderPartition = "salespulse-partition"
	HeaderOffset    = "salespulse-offset"
	HeaderTimestamp = "salespulse-timestamp"
	HeaderTruncated = "salespulse-truncated"
)

// maxErrorHeader caps the error header: decoder errors may quote input.
const maxErrorHeader = 16 << 10

// Rule label values for failures that are not a *schemas.FieldError.
const (
	RuleOversized = "oversized"
	RuleMalformed = "malformed"
	RulePanic     = "panic"
)

// PanicError is a decoder panic turned into a dead letter.
type PanicError struct{ V any }

func (e PanicError) Error() string { return fmt.Sprintf("decoder panic: %v", e.V) }

// Rule names the rule reason broke, for the metric label and the
// salespulse-rule header: a FieldError's rule, else panic or malformed.
func Rule(reason error) string {
	var pe PanicError
	var fe *schemas.FieldError
	switch {
	case errors.As(reason, &pe):
		return RulePanic
	case errors.As(reason, &fe):
		return ruleName(fe.Rule)
	}
	return RuleMalformed
}

// ruleName is the stable name of a rule: the text before any ':' detail
// ("malformed JSON: unexpected end of input at byte offset 36" →
// "malformed JSON"), so per-record details stay in salespulse-error and
// label values stay few.
func ruleName(rule string) string {
	if i := strings.IndexByte(rule, ':'); i > 0 {
		return rule[:i]
	}
	return rule
}

// Letter describes one dead letter.
type Letter struct {
	Topic    string // the dead-letter topic
	Source   string // the decoder name
	Rule     string
	Reason   error
	MaxBytes int // longer values are cut, with a salespulse-truncated header
}

// Record returns the dead letter of r. It shares r's buffers: the fetched
// record's are not reused by kgo, so the dead letter may hold them until
// it is produced. msg is the error header's value.
func (l Letter) Record(r *kgo.Record) (dl *kgo.Record, msg string) {
	msg = l.Reason.Error()
	if len(msg) > maxErrorHeader {
		msg = msg[:maxErrorHeader] + "…"
	}
	hs := make([]kgo.RecordHeader, 0, 9)
	hs = append(hs,
		kgo.RecordHeader{Key: HeaderError, Value: []byte(msg)},
		kgo.RecordHeader{Key: HeaderSource, Value: []byte(l.Source)},
	)
	// Every dead letter names its rule, so a consumer of the DLQ can route
	// on one header: the FieldError's rule, or oversized/malformed/panic.
	if fe := (*schemas.FieldError)(nil); errors.As(l.Reason, &fe) {
		hs = append(hs, kgo.RecordHeader{Key: HeaderField, Value: []byte(fe.Field)})
	}
	hs = append(hs, kgo.RecordHeader{Key: HeaderRule, Value: []byte(l.Rule)})
	hs = append(hs,
		kgo.RecordHeader{Key: HeaderTopic, Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: HeaderPartition, Value: strconv.AppendInt(nil, int64(r.Partition), 10)},
		kgo.RecordHeader{Key: HeaderOffset, Value: strconv.AppendInt(nil, r.Offset, 10)},
		kgo.RecordHeader{Key: HeaderTimestamp, Value: r.Timestamp.UTC().AppendFormat(nil, "2006-01-02T15:04:05.000Z07:00")},
	)
	value := r.Value
	if len(value) > l.MaxBytes {
		hs = append(hs, kgo.RecordHeader{Key: HeaderTruncated, Value: strconv.AppendInt(nil, int64(len(value)), 10)})
		value = value[:l.MaxBytes]
	}
	return &kgo.Record{Topic: l.Topic, Key: r.Key, Value: value, Headers: hs, Timestamp: r.Timestamp}, msg
}

// Group tracks the dead letters of one batch: the batch may not be handed
// out (and so not committed) before Kafka acknowledged them all.
type Group struct {
	wg  sync.WaitGroup
	mu  sync.Mutex
	err error
}

// Add counts one more dead letter in flight.
func (g *Group) Add() { g.wg.Add(1) }

// Done reports one dead letter's produce result.
func (g *Group) Done(err error) {
	if err != nil {
		g.mu.Lock()
		if g.err == nil {
			g.err = err
		}
		g.mu.Unlock()
	}
	g.wg.Done()
}

// Wait returns the first produce error once every dead letter of the
// group is acknowledged (or failed), or ctx's error.
func (g *Group) Wait(ctx context.Context) error {
	ch := make(chan struct{})
	go func() { g.wg.Wait(); close(ch) }()
	select {
	case <-ch:
	case <-ctx.Done():
		return ctx.Err()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}
