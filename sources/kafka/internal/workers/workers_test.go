package workers

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type job struct {
	key, seq int
}

// Each key's jobs run one at a time and in submission order, while
// different keys' jobs run at the same time.
func TestPerKeyOrderAcrossWorkers(t *testing.T) {
	const keys, perKey = 6, 200
	var mu sync.Mutex
	got := map[int][]int{}
	var busy, most atomic.Int32
	running := make([]atomic.Bool, keys)
	var wg sync.WaitGroup
	wg.Add(keys * perKey)
	p := New[int](4, func(j job) {
		defer wg.Done()
		if running[j.key].Swap(true) {
			t.Errorf("two jobs of key %d run at once", j.key)
		}
		n := busy.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(time.Duration(rand.IntN(50)) * time.Microsecond)
		mu.Lock()
		got[j.key] = append(got[j.key], j.seq)
		mu.Unlock()
		busy.Add(-1)
		running[j.key].Store(false)
	})
	defer p.Close(context.Background())
	for s := range perKey {
		for k := range keys {
			p.Submit(k, job{k, s})
		}
	}
	wg.Wait()
	for k := range keys {
		if len(got[k]) != perKey {
			t.Fatalf("key %d ran %d jobs, want %d", k, len(got[k]), perKey)
		}
		for s, seq := range got[k] {
			if seq != s {
				t.Fatalf("key %d ran job %d in place %d", k, seq, s)
			}
		}
	}
	if most.Load() < 2 {
		t.Errorf("at most %d jobs ran at once, want several", most.Load())
	}
}

// Drop returns the jobs waiting behind a started one; Waiting counts them.
func TestDropAndWaiting(t *testing.T) {
	release := make(chan struct{})
	started := make(chan int, 10)
	p := New[string](2, func(j int) {
		started <- j
		if j == 0 {
			<-release
		}
	})
	defer p.Close(context.Background())
	p.Submit("a", 0)
	if j := <-started; j != 0 {
		t.Fatalf("started %d", j)
	}
	p.Submit("a", 1)
	p.Submit("a", 2)
	p.Submit("b", 9)
	if j := <-started; j != 9 {
		t.Fatalf("while a's first job runs, started %d, want b's 9", j)
	}
	if n := p.Waiting("a"); n != 2 {
		t.Fatalf("Waiting(a) = %d, want 2", n)
	}
	if d := p.Drop("a"); len(d) != 2 || d[0] != 1 || d[1] != 2 {
		t.Fatalf("Drop(a) = %v, want [1 2]", d)
	}
	close(release)
	p.Submit("a", 3)
	if j := <-started; j != 3 {
		t.Fatalf("after the drop started %d, want 3", j)
	}
}

// Close does not wait past its context for a job that never ends.
func TestCloseIsBounded(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	started := make(chan struct{})
	p := New[int](1, func(int) { close(started); <-block })
	p.Submit(0, 0)
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	p.Close(ctx)
	if ctx.Err() == nil {
		t.Fatal("Close returned while a job still ran")
	}
}
