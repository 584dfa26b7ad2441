package gen

import (
	"time"

	"github.com/salespulse/salespulse/schemas"
)

// Stats is the generator's ground truth about what it has emitted so far,
// for tests and for checking the pipeline's KBIs and alerts against.
type Stats struct {
	Events int64
	ByType map[schemas.Type]int64
	// BeyondAuthority are the quote.created events with a planted discount
	// (>= Quotes.PlantedMinPct); half of them never asked for approval.
	BeyondAuthority Truth
	// NeverAnswered are the leads planted never to get an outbound touch.
	NeverAnswered Truth
	// SlowApprovals are the approvals decided more than 24 h after their
	// request (decided events emitted so far).
	SlowApprovals Truth
	// Truncated counts answers and approval steps not emitted because they
	// fell after the last day: their leads and approvals look unanswered
	// in the stream without being planted.
	Truncated int64
	// LastEventTime is the event time of the last emitted event.
	LastEventTime time.Time
}

// Truth is a count and, up to Config.TruthLimit, the ids in emission order.
type Truth struct {
	Count int64
	IDs   []string
}

type truthList struct {
	count int64
	ids   []string
	limit int
}

func (t *truthList) add(id string) {
	t.count++
	if len(t.ids) < t.limit {
		t.ids = append(t.ids, id)
	}
}

func (t *truthList) snapshot() Truth {
	return Truth{Count: t.count, IDs: append([]string(nil), t.ids...)}
}

type stats struct {
	events                                        int64
	byType                                        [32]int64 // indexed by schemas.Type
	beyondAuthority, neverAnswered, slowApprovals truthList
	truncated                                     int64
	last                                          int64
}

func (s *stats) init(limit int) {
	s.beyondAuthority.limit, s.neverAnswered.limit, s.slowApprovals.limit = limit, limit, limit
}

// Stats returns a copy of the ground truth so far. It copies the id lists,
// so call it at the end of a run or now and then, not per event.
func (g *Generator) Stats() Stats {
	s := &g.stats
	out := Stats{
		Events:          s.events,
		ByType:          make(map[schemas.Type]int64, len(s.byType)),
		BeyondAuthority: s.beyondAuthority.snapshot(),
		NeverAnswered:   s.neverAnswered.snapshot(),
		SlowApprovals:   s.slowApprovals.snapshot(),
		Truncated:       s.truncated,
	}
	for t, n := range s.byType {
		if n > 0 {
			out.ByType[schemas.Type(t)] = n
		}
	}
	if s.events > 0 {
		out.LastEventTime = time.UnixMilli(s.last).UTC()
	}
	return out
}
