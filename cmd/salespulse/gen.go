package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/salespulse/salespulse/internal/kafkaio"
	"github.com/salespulse/salespulse/sources"
	"github.com/salespulse/salespulse/sources/canonical"
	"github.com/salespulse/salespulse/sources/gen"
)

const genSynopsis = `
Produces a deterministic synthetic sales organisation's activity into Kafka
as canonical JSON: about 147 interactions per rep per working day, inbound
leads answered after realistic delays (some never), quotes with discounts (a
few beyond authority), approvals and deals. --org writes the organisation
(teams, managers, reps, vendor identities) for the pipeline's org_file.`

func cmdGen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("gen [flags]", genSynopsis, stderr)
	brokers := fs.String("brokers", "127.0.0.1:9092", "Kafka seed brokers, comma separated")
	topic := fs.String("topic", canonical.DefaultTopic, "topic for canonical events")
	format := fs.String("format", "canonical", "payload format: canonical (all to --topic), or vendor (each vendor's payloads on its default topic, sales.<vendor>: "+strings.Join(sources.Names(), ", ")+"; the rest canonical on --topic)")
	orgOut := fs.String("org", "", "write the organisation YAML to this file and continue")
	orgOnly := fs.Bool("org-only", false, "only write the organisation (with --org) and exit")
	limit := fs.Int64("limit", 0, "stop after this many events (0: when --days are done)")
	gc := gen.DefaultConfig()
	fs.Uint64Var(&gc.Seed, "seed", gc.Seed, "seed: the same seed gives the same organisation and events")
	fs.IntVar(&gc.Teams, "teams", gc.Teams, "teams")
	fs.IntVar(&gc.RepsPerTeam, "reps-per-team", gc.RepsPerTeam, "sellers per team")
	fs.IntVar(&gc.Days, "days", gc.Days, "calendar days to generate (0: endless)")
	fs.Float64Var(&gc.Speed, "speed", gc.Speed, "event-time seconds per wall second (0: as fast as possible)")
	start := fs.String("start", "", "event time of day 0 (RFC 3339 or YYYY-MM-DD; default 2026-11-02)")
	fs.DurationVar(&gc.DeliverySkew, "delivery-skew", gc.DeliverySkew, "--format vendor: each vendor topic lags event time by its own delay up to this (e.g. 2m), so topics overtake each other")
	fs.Float64Var(&gc.WebhookRetries, "webhook-retries", gc.WebhookRetries, "--format vendor: share of HubSpot, Zoom and Aircall webhooks delivered twice with the same event id")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *format != "canonical" && *format != "vendor" {
		return fmt.Errorf("--format %q: want canonical or vendor", *format)
	}
	if *start != "" {
		t, err := parseStart(*start)
		if err != nil {
			return fmt.Errorf("--start: %w", err)
		}
		gc.Start = t
	}
	g, err := gen.New(gc)
	if err != nil {
		return err
	}
	if *orgOut != "" {
		f, err := os.Create(*orgOut)
		if err != nil {
			return err
		}
		if err := gen.WriteOrg(f, g.Org()); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "wrote organisation to %s\n", *orgOut)
	}
	if *orgOnly {
		return nil
	}
	cl, err := kafkaio.NewGeneratorClient(strings.Split(*brokers, ","))
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	began := time.Now()
	opts := kafkaio.ProduceOptions{
		Limit: *limit, ProgressEvery: 100000,
		Progress: func(p kafkaio.Progress) {
			fmt.Fprintf(stderr, "produced %d records (event time %s)\n", p.Acked, p.EventTime.Format(time.RFC3339))
		},
	}
	var n int64
	dest := *topic
	if *format == "vendor" {
		// Vendor records need the org file: without it the decoders cannot
		// map vendor user ids to reps.
		if *orgOut == "" {
			fmt.Fprintln(stderr, "note: --format vendor: the pipeline needs this organisation as its org_file; pass --org FILE to write it")
		}
		dest = "each vendor's default topic"
		n, err = kafkaio.ProduceVendor(ctx, cl, map[string]string{canonical.Name: *topic}, g, opts)
	} else {
		n, err = kafkaio.Produce(ctx, cl, *topic, g, opts)
	}
	el := time.Since(began)
	fmt.Fprintf(stdout, "%d records produced to %s in %s (%.0f records/s)\n", n, dest, el.Round(time.Millisecond), float64(n)/el.Seconds())
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
