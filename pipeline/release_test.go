package pipeline

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/salespulse/salespulse/schemas"
)

// releaseLog records, per worker, the partitions its stage processed and
// released, in the order the worker did them.
type releaseLog struct {
	mu  sync.Mutex
	log map[int][]string
	// busy is set while a Process runs: a Release then is a race.
	busy map[int]bool
	bad  []string
}

func (l *releaseLog) add(w int, ev string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.busy[w] {
		l.bad = append(l.bad, fmt.Sprintf("worker %d: %s during Process", w, ev))
	}
	l.log[w] = append(l.log[w], ev)
}

type releasingStage struct {
	w int
	l *releaseLog
}

func (s releasingStage) Process(_ context.Context, b *schemas.Batch) error {
	s.l.add(s.w, fmt.Sprintf("process %d", b.Origin.Partition))
	s.l.mu.Lock()
	s.l.busy[s.w] = true
	s.l.mu.Unlock()
	time.Sleep(time.Millisecond)
	s.l.mu.Lock()
	s.l.busy[s.w] = false
	s.l.mu.Unlock()
	return nil
}

func (s releasingStage) Release(topic string, partition int32) {
	s.l.add(s.w, fmt.Sprintf("release %s/%d", topic, partition))
}

type alsoReleased struct {
	mu    sync.Mutex
	parts []int32
}

func (a *alsoReleased) Release(_ string, partition int32) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.parts = append(a.parts, partition)
}

// Release reaches the stages of the worker that runs the partition's
// batches, between batches, then AlsoRelease's releasers; a release
// queued before Run or while no batch comes is applied too.
func TestReleaseReachesThePartitionsWorker(t *testing.T) {
	l := &releaseLog{log: map[int][]string{}, busy: map[int]bool{}}
	var bs []*schemas.Batch
	for p := range int32(4) {
		for k := range int64(3) {
			bs = append(bs, batch(p, 10*k, 10*k+9, 2))
		}
	}
	src := newSliceSource(bs...)
	reg := prometheus.NewRegistry()
	p, err := New(Config{Workers: 2}, src, func(w int) []Stage { return []Stage{releasingStage{w, l}} }, &recordingSink{}, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	also := &alsoReleased{}
	p.AlsoRelease(also)
	p.Release("t", 1) // before Run
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- p.Run(ctx) }()
	<-src.done
	for part := range int32(4) {
		p.Release("t", part) // no batch follows
	}
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(p.m.released) < 5 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(p.m.released); n != 5 {
		t.Fatalf("%v partitions released, want 5", n)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.bad) > 0 {
		t.Fatalf("released during Process: %v", l.bad)
	}
	for part := range int32(4) {
		w := p.workerOf("t", part)
		var processed, released int
		for _, ev := range l.log[w] {
			switch ev {
			case fmt.Sprintf("process %d", part):
				processed++
			case fmt.Sprintf("release t/%d", part):
				released++
			}
		}
		want := 1
		if part == 1 {
			want = 2
		}
		if processed != 3 || released != want {
			t.Errorf("partition %d's worker %d processed %d batches and released it %d times, want 3 and %d: %v",
				part, w, processed, released, want, l.log[w])
		}
		for other, evs := range l.log {
			if other != w && slices.Contains(evs, fmt.Sprintf("release t/%d", part)) {
				t.Errorf("worker %d released partition %d, which worker %d runs", other, part, w)
			}
		}
	}
	also.mu.Lock()
	defer also.mu.Unlock()
	if len(also.parts) != 5 {
		t.Errorf("AlsoRelease's releaser got %v, want every release", also.parts)
	}
}
