package pipeline

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/salespulse/salespulse/schemas"
)

// groupSink is an AsyncSink that holds what it is handed until Flush (or
// until it holds size batches), then completes it all at once, the way a
// grouping sink does: acknowledgements come later than Submit and in
// bunches. fail makes the next completion report an error.
type groupSink struct {
	mu      sync.Mutex
	size    int
	held    []func(error)
	order   []schemas.Origin // submit order
	fail    error
	flushed int
}

func (g *groupSink) Write(context.Context, *schemas.Batch) error {
	panic("Write called on an AsyncSink")
}

func (g *groupSink) Submit(_ context.Context, b *schemas.Batch, done func(error)) {
	g.mu.Lock()
	g.order = append(g.order, b.Origin)
	g.held = append(g.held, done)
	var full []func(error)
	if len(g.held) >= g.size {
		full, g.held = g.held, nil
	}
	err := g.fail
	g.mu.Unlock()
	go func() { // like a group insert finishing on the sink's goroutine
		for _, d := range full {
			d(err)
		}
	}()
}

func (g *groupSink) Flush(context.Context) error {
	g.mu.Lock()
	held := g.held
	g.held = nil
	g.flushed++
	err := g.fail
	g.mu.Unlock()
	for _, d := range held {
		d(err)
	}
	return nil
}

var _ AsyncSink = (*groupSink)(nil)

// A worker hands a batch to an AsyncSink and goes on; the batch is
// acknowledged only by done, and Run's drain flushes what the sink still
// holds, so every batch is acknowledged when Run returns.
func TestPipelineAsyncSinkAcksOnDoneAndDrainFlushes(t *testing.T) {
	var bs []*schemas.Batch
	for p := range int32(3) {
		for k := range int64(3) {
			bs = append(bs, batch(p, k*10, k*10+9, 5))
		}
	}
	src := newSliceSource(bs...)
	sink := &groupSink{size: 4}
	p, err := New(Config{Workers: 2}, src, nil, sink, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- p.Run(ctx) }()
	// Eight batches are completed by the sink in two groups of four; the
	// ninth waits in the sink until the drain flushes it.
	deadline := time.After(10 * time.Second)
	for {
		src.mu.Lock()
		n := len(src.acks)
		src.mu.Unlock()
		if n == 8 {
			break
		}
		select {
		case <-deadline:
			t.Fatalf("%d batches acknowledged, want 8 before the drain", n)
		case <-time.After(5 * time.Millisecond):
		}
	}
	select {
	case <-src.done:
		t.Fatal("the ninth batch was acknowledged before the sink stored it")
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("run: %v", err)
	}
	select {
	case <-src.done:
	default:
		t.Fatal("Run returned before every batch was acknowledged")
	}
	for o, err := range src.acks {
		if err != nil {
			t.Errorf("%s acknowledged with %v", o, err)
		}
	}
	if sink.flushed != 1 {
		t.Errorf("flushed %d times, want once", sink.flushed)
	}
	// Submits of one partition stay in offset order.
	last := map[int32]int64{}
	for _, o := range sink.order {
		if prev, ok := last[o.Partition]; ok && o.FirstOffset <= prev {
			t.Errorf("partition %d submitted %d after %d", o.Partition, o.FirstOffset, prev)
		}
		last[o.Partition] = o.FirstOffset
	}
}

// A store that fails stops the pipeline as a failing Write does: Run
// returns the error, and every batch is handed back, none acknowledged as
// stored.
func TestPipelineAsyncSinkFailureStopsThePipeline(t *testing.T) {
	boom := errors.New("insert refused")
	bs := []*schemas.Batch{batch(0, 0, 9, 5), batch(1, 0, 9, 5), batch(0, 10, 19, 5)}
	src := newSliceSource(bs...)
	sink := &groupSink{size: 2, fail: boom}
	p, err := New(Config{Workers: 2}, src, nil, sink, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- p.Run(context.Background()) }()
	select {
	case err := <-errc:
		if !errors.Is(err, boom) {
			t.Fatalf("run returned %v, want %v", err, boom)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the pipeline kept running after the sink failed")
	}
	select {
	case <-src.done:
	default:
		t.Fatal("Run returned before every batch was handed back")
	}
	for o, err := range src.acks {
		if err == nil {
			t.Errorf("%s acknowledged as stored", o)
		}
	}
}
