package pipeline

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/salespulse/salespulse/schemas"
)

// sinkFunc adapts a function to Sink.
type sinkFunc func(ctx context.Context, b *schemas.Batch) error

func (f sinkFunc) Write(ctx context.Context, b *schemas.Batch) error { return f(ctx, b) }

func withAlert(b *schemas.Batch) *schemas.Batch {
	b.Alerts = append(b.Alerts, schemas.Alert{Rule: "r"})
	return b
}

func TestFanout(t *testing.T) {
	boom := errors.New("clickhouse down")
	kaput := errors.New("alerts topic down")
	f := func(name string, b *schemas.Batch, mainErr, alertErr error, wantAlertWrites int, want []error) {
		t.Helper()
		var mainN, alertN atomic.Int32
		main := sinkFunc(func(context.Context, *schemas.Batch) error { mainN.Add(1); return mainErr })
		alerts := sinkFunc(func(context.Context, *schemas.Batch) error { alertN.Add(1); return alertErr })
		err := NewFanout(main, alerts).Write(context.Background(), b)
		if mainN.Load() != 1 {
			t.Errorf("%s: main sink written %d times, want 1", name, mainN.Load())
		}
		if int(alertN.Load()) != wantAlertWrites {
			t.Errorf("%s: alert sink written %d times, want %d", name, alertN.Load(), wantAlertWrites)
		}
		if len(want) == 0 && err != nil {
			t.Errorf("%s: Write = %v, want nil", name, err)
		}
		for _, w := range want {
			if !errors.Is(err, w) {
				t.Errorf("%s: Write = %v, want it to carry %v (the batch must not be acknowledged)", name, err, w)
			}
		}
	}
	f("a batch without alerts goes to the main sink only", batch(0, 0, 9, 3), nil, nil, 0, nil)
	f("a batch with alerts goes to both", withAlert(batch(0, 0, 9, 3)), nil, nil, 1, nil)
	f("a failed main write fails the batch", withAlert(batch(0, 0, 9, 3)), boom, nil, 1, []error{boom})
	f("a failed alert write fails the batch", withAlert(batch(0, 0, 9, 3)), nil, kaput, 1, []error{kaput})
	f("both failures are reported", withAlert(batch(0, 0, 9, 3)), boom, kaput, 1, []error{boom, kaput})

	main := sinkFunc(func(context.Context, *schemas.Batch) error { return nil })
	if err := NewFanout(main, nil).Write(context.Background(), withAlert(batch(0, 0, 9, 3))); err != nil {
		t.Errorf("without an alert sink: Write = %v, want nil", err)
	}
}

// The two writes overlap: the alert write waits for the main write to
// start, which deadlocks if Fanout wrote them one after the other.
func TestFanoutWritesConcurrentlyAndWaitsForBoth(t *testing.T) {
	mainStarted := make(chan struct{})
	alertDone := atomic.Bool{}
	main := sinkFunc(func(context.Context, *schemas.Batch) error { close(mainStarted); return nil })
	alerts := sinkFunc(func(ctx context.Context, _ *schemas.Batch) error {
		select {
		case <-mainStarted:
		case <-ctx.Done():
			return ctx.Err()
		}
		time.Sleep(10 * time.Millisecond) // Write must still wait for this
		alertDone.Store(true)
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := NewFanout(main, alerts).Write(ctx, withAlert(batch(0, 0, 9, 1))); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if !alertDone.Load() {
		t.Error("Write returned before the alert sink had the batch")
	}
}
