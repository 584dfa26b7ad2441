package pipeline

import (
	"context"
	"errors"

	"github.com/salespulse/salespulse/schemas"
)

// Fanout is a Sink that stores a batch in a main sink (ClickHouse) and,
// when the batch has alerts, in an alert sink (the durable alerts topic).
// The two are written concurrently: alert latency should not wait for a
// big insert. Write returns nil only when both have the batch, so a batch
// is acknowledged only then. A redelivery after a partial failure re-sends
// both, which the main sink's dedup token (ClickHouse) and the alert sink's
// stable alert ids (hooks) make harmless.
type Fanout struct {
	main   Sink
	alerts Sink
}

// NewFanout returns a Fanout writing to main and, for batches with alerts,
// to alerts (nil: alerts are only stored by main). When main is an
// AsyncSink, so is the Fanout.
func NewFanout(main, alerts Sink) Sink {
	f := &Fanout{main: main, alerts: alerts}
	if m, ok := main.(AsyncSink); ok {
		return &asyncFanout{f, m}
	}
	return f
}

// Write stores b in both sinks and joins their errors. Safe for concurrent
// use if both sinks are.
func (f *Fanout) Write(ctx context.Context, b *schemas.Batch) error {
	if len(b.Alerts) == 0 || f.alerts == nil {
		return f.main.Write(ctx, b)
	}
	errc := make(chan error, 1)
	go func() { errc <- f.alerts.Write(ctx, b) }()
	mainErr := f.main.Write(ctx, b)
	// Wait for the alert write even when the main one failed: the batch is
	// handed back after Write returns and must not be read by it any more.
	return errors.Join(mainErr, <-errc)
}

// asyncFanout is a Fanout whose main sink is an AsyncSink.
type asyncFanout struct {
	*Fanout
	main AsyncSink
}

var _ AsyncSink = (*asyncFanout)(nil)

// Submit is Write for a pipeline whose main sink is an AsyncSink: the
// alerts are written at once, beside the main sink's Submit, and done is
// called once both have the batch.
func (f *asyncFanout) Submit(ctx context.Context, b *schemas.Batch, done func(error)) {
	if len(b.Alerts) == 0 || f.alerts == nil {
		f.main.Submit(ctx, b, done)
		return
	}
	errc := make(chan error, 1)
	go func() { errc <- f.alerts.Write(ctx, b) }()
	f.main.Submit(ctx, b, func(err error) {
		// The alert write reads b too: wait for it before b is handed back.
		done(errors.Join(err, <-errc))
	})
}

// Flush flushes the main sink.
func (f *asyncFanout) Flush(ctx context.Context) error { return f.main.Flush(ctx) }
