package app

import (
	"context"
	"os"
	"time"

	"github.com/salespulse/salespulse/pipeline/anomaly/dealscore"
	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sinks/clickhouse"
	"github.com/salespulse/salespulse/sources/gen"
)

// ReadDealExamples reads the closed deals' features the stream wrote to
// deal_features, closed in [from, to) (zero: open).
func ReadDealExamples(ctx context.Context, c clickhouse.Config, from, to time.Time) ([]dealscore.Example, error) {
	no := false
	c.Migrate = &no
	sink, err := clickhouse.NewSink(ctx, c, nil, nil)
	if err != nil {
		return nil, err
	}
	defer sink.Close()
	rows, err := sink.DealCloses(ctx, from, to)
	if err != nil {
		return nil, err
	}
	out := make([]dealscore.Example, len(rows))
	for k, r := range rows {
		out[k] = dealscore.Example{ID: r.OpportunityID, At: r.At.UnixMilli(), X: r.Features, Won: r.Event == "won"}
	}
	return out, nil
}

// GeneratedDealExamples runs the generator's canonical stream of cfg
// through the same feature code the anomaly stage runs and returns the
// closed deals: `salespulse score evaluate --generate` without Kafka or
// ClickHouse (docs/scores.md's report).
func GeneratedDealExamples(cfg gen.Config) ([]dealscore.Example, error) {
	g, err := gen.New(cfg)
	if err != nil {
		return nil, err
	}
	tr := dealscore.NewTracker()
	var i schemas.Interaction
	for {
		if _, ok := g.Next(&i); !ok {
			break
		}
		i.Normalize()
		tr.Apply(&i)
	}
	return tr.Examples, nil
}

// WriteGeneratedDealModel trains a deal score model on the generator's
// stream of cfg (GeneratedDealExamples) and writes it to path, as
// `salespulse score train --generate` does with default options: a model
// for stacks that run on generated data (the ops and console suites'
// deals-at-risk pages).
func WriteGeneratedDealModel(cfg gen.Config, path string) error {
	ex, err := GeneratedDealExamples(cfg)
	if err != nil {
		return err
	}
	m, err := dealscore.Train(ex, dealscore.TrainOptions{})
	if err != nil {
		return err
	}
	b, err := m.Marshal()
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
