package kafka

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/schemas"
)

// Dead-letter headers. Producers and the runbook rely on these names.
const (
	HeaderError     = "salespulse-error"     // the full error message
	HeaderSource    = "salespulse-source"    // the decoder name
	HeaderField     = "salespulse-field"     // the JSON path of the bad field (FieldError only)
	HeaderRule      = "salespulse-rule"      // the rule broken: a FieldError's rule, or oversized, malformed, panic
	HeaderTopic     = "salespulse-topic"     // the original topic
	HeaderPartition = "salespulse-partition" // the original partition, decimal
	HeaderOffset    = "salespulse-offset"    // the original offset, decimal
	HeaderTimestamp = "salespulse-timestamp" // the original record timestamp, RFC 3339 (ms), UTC
	HeaderTruncated = "salespulse-truncated" // the original value length when the value was cut
)

// maxErrorHeader caps the error header: decoder errors may quote input.
const maxErrorHeader = 16 << 10

// Rule label values for failures that are not a *schemas.FieldError.
const (
	ruleOversized = "oversized"
	ruleMalformed = "malformed"
	rulePanic     = "panic"
)

// dlqGroup tracks the dead letters of one batch: the batch may not be
// handed out (and so not committed) before Kafka acknowledged them all.
type dlqGroup struct {
	wg  sync.WaitGroup
	mu  sync.Mutex
	err error
}

func (g *dlqGroup) done(err error) {
	if err != nil {
		g.mu.Lock()
		if g.err == nil {
			g.err = err
		}
		g.mu.Unlock()
	}
	g.wg.Done()
}

// wait returns the first produce error once every dead letter of the group
// is acknowledged (or failed).
func (g *dlqGroup) wait(ctx context.Context) error {
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

// deadLetterLocked produces r to the dead-letter topic with reason. rule is
// the metrics label for failures that are not FieldErrors ("" = derive it).
func (s *Source) deadLetterLocked(p *partition, b *builder, r *kgo.Record, reason error, rule string) {
	b.batch.Rejected++
	var fe *schemas.FieldError
	isField := errors.As(reason, &fe)
	if rule == "" {
		var pe panicError
		switch {
		case errors.As(reason, &pe):
			rule = rulePanic
		case isField:
			rule = ruleName(fe.Rule)
		default:
			rule = ruleMalformed
		}
	}
	s.m.deadLetter(p.source, rule)

	msg := reason.Error()
	if len(msg) > maxErrorHeader {
		msg = msg[:maxErrorHeader] + "…"
	}
	hs := make([]kgo.RecordHeader, 0, 9)
	hs = append(hs,
		kgo.RecordHeader{Key: HeaderError, Value: []byte(msg)},
		kgo.RecordHeader{Key: HeaderSource, Value: []byte(p.source)},
	)
	// Every dead letter names its rule, so a consumer of the DLQ can route
	// on one header: the FieldError's rule, or oversized/malformed/panic.
	if isField {
		hs = append(hs, kgo.RecordHeader{Key: HeaderField, Value: []byte(fe.Field)})
	}
	hs = append(hs, kgo.RecordHeader{Key: HeaderRule, Value: []byte(rule)})
	hs = append(hs,
		kgo.RecordHeader{Key: HeaderTopic, Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: HeaderPartition, Value: strconv.AppendInt(nil, int64(r.Partition), 10)},
		kgo.RecordHeader{Key: HeaderOffset, Value: strconv.AppendInt(nil, r.Offset, 10)},
		kgo.RecordHeader{Key: HeaderTimestamp, Value: r.Timestamp.UTC().AppendFormat(nil, "2006-01-02T15:04:05.000Z07:00")},
	)
	value := r.Value
	if len(value) > s.cfg.DeadLetterMaxBytes {
		hs = append(hs, kgo.RecordHeader{Key: HeaderTruncated, Value: strconv.AppendInt(nil, int64(len(value)), 10)})
		value = value[:s.cfg.DeadLetterMaxBytes]
	}
	// The fetched record's buffers are not reused by kgo, so the dead letter
	// may share them until it is produced.
	dl := &kgo.Record{Topic: s.cfg.DeadLetterTopic, Key: r.Key, Value: value, Headers: hs, Timestamp: r.Timestamp}

	if b.dlq == nil {
		b.dlq = new(dlqGroup)
	}
	g := b.dlq
	g.wg.Add(1)
	s.logger.LogAttrs(s.life, slog.LevelWarn, "dead-lettering record",
		slog.String("topic", r.Topic), slog.Int("partition", int(r.Partition)), slog.Int64("offset", r.Offset),
		slog.String("source", p.source), slog.String("err", msg))
	s.cl.Produce(s.life, dl, func(_ *kgo.Record, err error) { g.done(err) })
}

// ruleName is the stable name of a rule for the metric label and the
// salespulse-rule header: the text before any ':' detail ("malformed JSON:
// unexpected end of input at byte offset 36" → "malformed JSON"), so
// per-record details stay in salespulse-error and label values stay few.
func ruleName(rule string) string {
	if i := strings.IndexByte(rule, ':'); i > 0 {
		return rule[:i]
	}
	return rule
}
