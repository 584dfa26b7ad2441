package kafka

import (
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/sources/kafka/internal/deadletter"
)

// Dead-letter headers. Producers and the runbook rely on these names.
const (
	HeaderError     = deadletter.HeaderError     // the full error message
	HeaderSource    = deadletter.HeaderSource    // the decoder name
	HeaderField     = deadletter.HeaderField     // the JSON path of the bad field (FieldError only)
	HeaderRule      = deadletter.HeaderRule      // the rule broken: a FieldError's rule, or oversized, malformed, panic
	HeaderTopic     = deadletter.HeaderTopic     // the original topic
	HeaderPartition = deadletter.HeaderPartition // the original partition, decimal
	HeaderOffset    = deadletter.HeaderOffset    // the original offset, decimal
	HeaderTimestamp = deadletter.HeaderTimestamp // the original record timestamp, RFC 3339 (ms), UTC
	HeaderTruncated = deadletter.HeaderTruncated // the original value length when the value was cut
)

// deadLetterLocked produces r to the dead-letter topic with reason. rule is
// the metrics label for failures that are not FieldErrors ("" = derive it).
// The produce is asynchronous: b's group collects its result.
func (s *Source) deadLetterLocked(p *partition, b *builder, r *kgo.Record, reason error, rule string) {
	b.batch.Rejected++
	if rule == "" {
		rule = deadletter.Rule(reason)
	}
	s.m.DeadLetter(p.source, rule)
	dl, msg := deadletter.Letter{
		Topic: s.cfg.DeadLetterTopic, Source: p.source, Rule: rule, Reason: reason, MaxBytes: s.cfg.DeadLetterMaxBytes,
	}.Record(r)
	if b.dlq == nil {
		b.dlq = new(deadletter.Group)
	}
	g := b.dlq
	g.Add()
	s.logger.LogAttrs(s.life, slog.LevelWarn, "dead-lettering record",
		slog.String("topic", r.Topic), slog.Int("partition", int(r.Partition)), slog.Int64("offset", r.Offset),
		slog.String("source", p.source), slog.String("err", msg))
	s.cl.Produce(s.life, dl, func(_ *kgo.Record, err error) { g.Done(err) })
}
