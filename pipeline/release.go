package pipeline

import (
	"sync"
)

// Releaser is a Stage that keeps a partition's state in memory between
// batches. Release drops it: the partition's source gave the partition
// up (a rebalance moved it to another instance, or the group lost it),
// so its state is the new owner's now. Every batch saves that state in
// the store, and a later batch of the partition, should it come back,
// loads it again, as after any other gap in its offsets. Without this an
// instance kept the state of every partition it had ever owned: adding
// instances to a group did not lower the memory of the ones already
// running.
//
// The pipeline calls Release on the worker that runs the partition's
// batches, between two of them, never during Process.
type Releaser interface {
	Release(topic string, partition int32)
}

// releases is one worker's partitions to release.
type releases struct {
	mu    sync.Mutex
	parts []partitionKey
	wake  chan struct{} // capacity 1: the worker looks at parts
}

type partitionKey struct {
	topic string
	part  int32
}

func newReleases() *releases { return &releases{wake: make(chan struct{}, 1)} }

// Release drops what the pipeline's stages (the Releasers among them) and
// the releasers given to AlsoRelease hold of a partition, once the worker
// that runs it is between batches. Call it when the source gives the
// partition up; safe for concurrent use, and before Run.
func (p *Pipeline) Release(topic string, partition int32) {
	r := p.rel[p.workerOf(topic, partition)]
	r.mu.Lock()
	r.parts = append(r.parts, partitionKey{topic, partition})
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// AlsoRelease adds r to what Release releases, after the stages: state
// the stages share per partition, such as the state store's claims. Call
// it before Run.
func (p *Pipeline) AlsoRelease(r Releaser) { p.also = append(p.also, r) }

// release runs r's queued releases on the worker's stages.
func (p *Pipeline) release(r *releases, stages []Stage) {
	r.mu.Lock()
	parts := r.parts
	r.parts = nil
	r.mu.Unlock()
	for _, k := range parts {
		for _, s := range stages {
			if rs, ok := s.(Releaser); ok {
				rs.Release(k.topic, k.part)
			}
		}
		for _, rs := range p.also {
			rs.Release(k.topic, k.part)
		}
		p.m.released.Inc()
	}
}

// workerOf is the worker that runs a partition's batches: the same one
// for all of them, which keeps their offset order.
func (p *Pipeline) workerOf(topic string, partition int32) int {
	return int((uint32(partition) + hashString(topic)) % uint32(len(p.rel)))
}
