package privacy

import (
	"context"

	"github.com/salespulse/salespulse/pipeline"
	"github.com/salespulse/salespulse/schemas"
)

// Stage is the pipeline stage that pseudonymises every interaction of a
// batch in place (see Apply). It runs first, so no later stage, log line or
// sink ever sees raw contact data. Like every pipeline.Stage it is used by
// one worker only.
type Stage struct {
	p *Pseudonymizer
}

var _ pipeline.Stage = (*Stage)(nil)

// NewStage returns a stage with its own clone of p: a Pseudonymizer reuses
// hash state and buffers, so workers must not share one. Call it once per
// worker.
func (p *Pseudonymizer) NewStage() *Stage { return &Stage{p: p.Clone()} }

// Process pseudonymises b's interactions. It never fails.
func (s *Stage) Process(_ context.Context, b *schemas.Batch) error {
	for k := range b.Interactions {
		s.p.Apply(&b.Interactions[k])
	}
	return nil
}
