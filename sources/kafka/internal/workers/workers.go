// Package workers runs jobs on a fixed set of goroutines, one job per key
// at a time and in submission order per key, as VictoriaMetrics' stream
// parsers hand a reader's blocks to unmarshal workers: the reader never
// waits for the work, and what must stay in order (one Kafka partition's
// records) does.
package workers

import (
	"context"
	"sync"
)

// Pool runs jobs of type J keyed by K. Its methods are safe for concurrent
// use; run is never called with the Pool's lock held, so it may take the
// caller's locks (Submit may be called under them).
type Pool[K comparable, J any] struct {
	run func(J)

	mu     sync.Mutex
	cond   sync.Cond
	ready  []item[K, J]       // jobs whose key has nothing else started, FIFO
	keys   map[K]*keyState[J] // keys with a job started or waiting
	closed bool
	done   chan struct{} // closed when every worker returned
}

type item[K comparable, J any] struct {
	key K
	job J
}

type keyState[J any] struct {
	busy  bool // a job of the key is in ready or running
	queue []J  // its later jobs, in order
}

// New starts n workers calling run. Close stops them.
func New[K comparable, J any](n int, run func(J)) *Pool[K, J] {
	p := &Pool[K, J]{run: run, keys: make(map[K]*keyState[J]), done: make(chan struct{})}
	p.cond.L = &p.mu
	var wg sync.WaitGroup
	for range n {
		wg.Go(p.work)
	}
	go func() { wg.Wait(); close(p.done) }()
	return p
}

// Submit queues job behind k's earlier jobs. It never blocks on the
// workers: the caller bounds how much it submits (Waiting tells it how far
// behind a key is).
func (p *Pool[K, J]) Submit(k K, job J) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	ks := p.keys[k]
	if ks == nil {
		ks = new(keyState[J])
		p.keys[k] = ks
	}
	if ks.busy {
		ks.queue = append(ks.queue, job)
		return
	}
	ks.busy = true
	p.ready = append(p.ready, item[K, J]{k, job})
	p.cond.Signal()
}

// Waiting is how many of k's jobs wait behind one started.
func (p *Pool[K, J]) Waiting(k K) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ks := p.keys[k]; ks != nil {
		return len(ks.queue)
	}
	return 0
}

// Drop forgets k's jobs that wait behind one started and returns them. A
// job already started still runs: the caller recognises its result as
// stale.
func (p *Pool[K, J]) Drop(k K) []J {
	p.mu.Lock()
	defer p.mu.Unlock()
	ks := p.keys[k]
	if ks == nil {
		return nil
	}
	q := ks.queue
	ks.queue = nil
	return q
}

func (p *Pool[K, J]) work() {
	for {
		p.mu.Lock()
		for len(p.ready) == 0 && !p.closed {
			p.cond.Wait()
		}
		if p.closed {
			p.mu.Unlock()
			return
		}
		it := p.ready[0]
		p.ready[0] = item[K, J]{}
		p.ready = p.ready[1:]
		p.mu.Unlock()

		p.run(it.job)

		p.mu.Lock()
		switch ks := p.keys[it.key]; {
		case ks == nil: // closed meanwhile
		case len(ks.queue) > 0:
			// The key's next job starts only now: its jobs run one at a
			// time, in order.
			p.ready = append(p.ready, item[K, J]{it.key, ks.queue[0]})
			var zero J
			ks.queue[0] = zero
			ks.queue = ks.queue[1:]
			p.cond.Signal()
		default:
			delete(p.keys, it.key)
		}
		p.mu.Unlock()
	}
}

// Close stops the workers, dropping jobs not started, and waits for them,
// bounded by ctx: a worker finishes the job it runs first.
func (p *Pool[K, J]) Close(ctx context.Context) {
	p.mu.Lock()
	p.closed = true
	p.ready = nil
	p.keys = make(map[K]*keyState[J])
	p.mu.Unlock()
	p.cond.Broadcast()
	select {
	case <-p.done:
	case <-ctx.Done():
	}
}
