package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/salespulse/salespulse/embedded/chdb"
	"github.com/salespulse/salespulse/internal/app"
	"github.com/salespulse/salespulse/internal/devstack"
	"github.com/salespulse/salespulse/pipeline/anomaly/dealscore"
	"github.com/salespulse/salespulse/sources/gen"
)

const scoreSynopsis = `
Trains and evaluates the deal score model (docs/scores.md). Both read the
closed deals' features the pipeline computed in the stream
(salespulse.deal_features, event won or lost), or with --generate compute
them from the generator's stream with the same code, without Kafka or
ClickHouse.

  train     fits the model on every closed deal (or those before --before)
            and writes the model file (anomaly.deal_risk.model_file);
            the same deals give the same file, byte for byte
  evaluate  trains on the deals closed before the split and reports AUC,
            Brier score and a 10-bin calibration table on those closed
            after, against a base-rate model`

func cmdScore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "train" && args[0] != "evaluate" {
		fmt.Fprint(stderr, "Usage: salespulse score (train|evaluate) (--config FILE | --dev | --generate DAYS) [flags]\n")
		return errUsage
	}
	cmd := args[0]
	fs := newFlagSet("score "+cmd+" (--config FILE | --dev | --generate DAYS) [flags]", scoreSynopsis, stderr)
	file := fs.String("config", "", "config file: its clickhouse section is read")
	dev := fs.Bool("dev", false, "read salespulse dev's embedded ClickHouse (--clickhouse-addr)")
	chAddr := fs.String("clickhouse-addr", chdb.DefaultAddr, "with --dev: salespulse dev's ClickHouse HTTP address")
	days := fs.Int("generate", 0, "compute the deals from this many days of the generator's stream instead")
	seed := fs.Uint64("seed", 1, "with --generate: the generator's seed")
	teams := fs.Int("teams", 4, "with --generate: the generator's teams")
	out := fs.String("out", "deal-model.json", "train: the model file to write")
	before := fs.String("before", "", "train: only deals closed before this time (RFC 3339 or YYYY-MM-DD, UTC)")
	splitS := fs.String("split", "", "evaluate: train before, test at or after this time (default: --holdout)")
	holdout := fs.Float64("holdout", 0.3, "evaluate: without --split, test on this latest share of the deals")
	iters := fs.Int("iterations", 0, "gradient descent steps (default 2000)")
	l2 := fs.Float64("l2", 0, "L2 penalty on the standardised weights (default 0.01)")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	n := 0
	for _, set := range []bool{*file != "", *dev, *days > 0} {
		if set {
			n++
		}
	}
	if n != 1 {
		fmt.Fprintln(stderr, "give exactly one of --config, --dev and --generate")
		fs.Usage()
		return errUsage
	}
	var to time.Time
	if *before != "" {
		t, err := parseStart(*before)
		if err != nil {
			return fmt.Errorf("--before: %w", err)
		}
		to = t.UTC()
	}

	var ex []dealscore.Example
	var err error
	switch {
	case *days > 0:
		gc := gen.DefaultConfig()
		gc.Seed, gc.Days, gc.Teams = *seed, *days, *teams
		fmt.Fprintf(stderr, "generating %d days of %d teams (seed %d)…\n", *days, *teams, *seed)
		ex, err = app.GeneratedDealExamples(gc)
		if err == nil && !to.IsZero() {
			var kept []dealscore.Example
			for _, e := range ex {
				if e.At < to.UnixMilli() {
					kept = append(kept, e)
				}
			}
			ex = kept
		}
	default:
		cfg := &app.Config{}
		if *file != "" {
			if cfg, err = app.LoadConfig(*file); err != nil {
				return err
			}
		} else {
			c := devstack.AppDefaults()
			cfg = &c
			cfg.ClickHouse.Addresses, cfg.ClickHouse.Protocol = []string{*chAddr}, "http"
		}
		cfg.ClickHouse.SetDefaults()
		fmt.Fprintf(stderr, "reading closed deals from ClickHouse %v (database %s)…\n", cfg.ClickHouse.Addresses, cfg.ClickHouse.Database)
		ex, err = app.ReadDealExamples(ctx, cfg.ClickHouse, time.Time{}, to)
	}
	if err != nil {
		return err
	}
	if len(ex) == 0 {
		return errors.New("no closed deals: nothing to train on")
	}
	opts := dealscore.TrainOptions{Iterations: *iters, L2: *l2}
	if cmd == "train" {
		m, err := dealscore.Train(ex, opts)
		if err != nil {
			return err
		}
		b, err := m.Marshal()
		if err != nil {
			return err
		}
		if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("write model: %w", err)
		}
		fmt.Fprintf(stdout, "trained on %d closed deals (%.3f won): %s, model %s\n", m.Examples, m.BaseRate, *out, m.ID())
		return nil
	}
	split := dealscore.SplitAt(ex, 1-*holdout)
	if *splitS != "" {
		t, err := parseStart(*splitS)
		if err != nil {
			return fmt.Errorf("--split: %w", err)
		}
		split = t.UTC()
	}
	r, _, err := dealscore.Evaluate(ex, split, opts)
	if err != nil {
		return err
	}
	r.Print(stdout)
	return nil
}
