package ingress

import (
	"sync"
	"time"
)

// breaker sheds a topic's requests while Kafka is known not to take its
// records. Without it, every request during an outage waits the whole
// produce timeout: at a vendor's delivery rate that is thousands of
// requests, goroutines and buffered records held for seconds each, and
// every vendor worker stalled for as long (the load test's first run,
// docs/ingest.md).
//
// Closed, every request produces. A record not acknowledged within
// ingest.shed_after, or refused, opens it: requests are then answered 503
// at once without producing, except one at a time, the probe, which
// produces as usual. The probe's acknowledgement closes the breaker; a
// probe that stalls or fails lets the next request probe. An
// acknowledgement of a record produced before the breaker opened does not
// close it: that record may have been sent before the outage.
//
// The caller passes the time in.
type breaker struct {
	mu      sync.Mutex
	open    bool
	since   time.Time // when it opened
	probing bool      // a probe is in flight and has not stalled
	onOpen  func(open bool)
}

// admit reports whether a request may produce, and whether it is the
// probe.
func (b *breaker) admit() (ok, probe bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.open {
		return true, false
	}
	if b.probing {
		return false, false
	}
	b.probing = true
	return true, true
}

// failed records that a record produced by an admitted request stalled
// past shed_after or was refused, at now. Call it at most once per request.
func (b *breaker) failed(now time.Time, probe bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if probe {
		b.probing = false
	}
	if !b.open {
		b.open, b.since = true, now
		b.notify()
	}
}

// acked records Kafka's acknowledgement of a record whose request was
// admitted at started.
func (b *breaker) acked(started time.Time, probe bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if probe {
		b.probing = false
	}
	if b.open && (probe || !started.Before(b.since)) {
		b.open = false
		b.notify()
	}
}

func (b *breaker) notify() {
	if b.onOpen != nil {
		b.onOpen(b.open)
	}
}
