package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/salespulse/salespulse/embedded/chdb"
	"github.com/salespulse/salespulse/internal/app"
	"github.com/salespulse/salespulse/internal/devstack"
	"github.com/salespulse/salespulse/sources/gen"
)

const budgetSynopsis = `
Measures the alert budget: reads the alerts of a time range from ClickHouse
(salespulse.alerts), replays them through the configured hooks' routing and
digests in virtual time — the Dispatcher's own code, nothing is sent — and
prints how many pages each manager and each rep would have got per working
day of their team's calendar: median, p90, max and a histogram, and the
share of pages that are digests. Without alerts.hooks in the config it
simulates the recommended setup (docs/alerts.md, "Alert budget").`

func cmdAlerts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "budget" {
		fmt.Fprint(stderr, "Usage: salespulse alerts budget (--config FILE | --dev) [--from T] [--to T]\n")
		return errUsage
	}
	fs := newFlagSet("alerts budget (--config FILE | --dev) [--from T] [--to T]", budgetSynopsis, stderr)
	file := fs.String("config", "", "config file: its clickhouse, org_file, window.calendars and alerts.hooks are used")
	dev := fs.Bool("dev", false, "measure salespulse dev: its embedded ClickHouse (--clickhouse-addr), the org in --data-dir and the generator's calendars")
	dataDir := fs.String("data-dir", "var/dev", "with --dev: salespulse dev's data dir (its org.yml)")
	chAddr := fs.String("clickhouse-addr", chdb.DefaultAddr, "with --dev: salespulse dev's ClickHouse HTTP address")
	fromS := fs.String("from", "", "start of the range (RFC 3339 or YYYY-MM-DD, UTC; default: the first alert's day)")
	toS := fs.String("to", "", "end of the range, exclusive (default: the day after the last alert's)")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if (*file == "") == !*dev {
		fmt.Fprintln(stderr, "give exactly one of --config and --dev")
		fs.Usage()
		return errUsage
	}
	var from, to time.Time
	for _, f := range []struct {
		name, v string
		t       *time.Time
	}{{"--from", *fromS, &from}, {"--to", *toS, &to}} {
		if f.v == "" {
			continue
		}
		t, err := parseStart(f.v)
		if err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
		*f.t = t.UTC()
	}
	if !from.IsZero() && !to.IsZero() && !to.After(from) {
		return fmt.Errorf("--to %s is not after --from %s", *toS, *fromS)
	}

	cfg := &app.Config{}
	if *file != "" {
		var err error
		if cfg, err = app.LoadConfig(*file); err != nil {
			return err
		}
	} else {
		c := devstack.AppDefaults()
		cfg = &c
		cfg.OrgFile = filepath.Join(*dataDir, "org.yml")
		cfg.ClickHouse.Addresses, cfg.ClickHouse.Protocol = []string{*chAddr}, "http"
		cfg.SetDefaults()
	}
	if cfg.OrgFile == "" {
		return errors.New("the budget counts pages per manager and rep of the org: the config names no org_file")
	}
	org, err := app.LoadOrg(cfg.OrgFile)
	if err != nil {
		if *dev {
			return fmt.Errorf("%w (is --data-dir the one salespulse dev ran with?)", err)
		}
		return err
	}
	if *dev && len(cfg.Window.Calendars) == 0 {
		// salespulse dev's calendars: the generator's sites, assigned to
		// its teams in order (the org file holds the teams).
		gc := gen.DefaultConfig()
		gc.Teams = max(len(org.Teams), 1)
		g, err := gen.New(gc)
		if err != nil {
			return fmt.Errorf("generator calendars: %w", err)
		}
		cfg.Window.Calendars = devstack.GeneratorCalendars(g)
	}

	cfg.ClickHouse.SetDefaults()
	fmt.Fprintf(stderr, "reading alerts from ClickHouse %v (database %s)…\n", cfg.ClickHouse.Addresses, cfg.ClickHouse.Database)
	msgs, err := app.ReadAlerts(ctx, cfg.ClickHouse, from, to)
	if err != nil {
		return err
	}
	if len(msgs) == 0 {
		return errors.New("no alerts in the range: nothing to measure")
	}
	if from.IsZero() {
		from = msgs[0].At.UTC().Truncate(24 * time.Hour)
	}
	if to.IsZero() {
		last := time.UnixMilli(int64(msgs[len(msgs)-1].Version >> 2)).UTC()
		to = last.Truncate(24 * time.Hour).Add(24 * time.Hour)
	}
	hooks := "the configured hooks"
	if len(cfg.Alerts.Hooks) == 0 {
		hooks = "the recommended hooks (no alerts.hooks in the config)"
	}
	fmt.Fprintf(stderr, "read %d alert transitions; simulating %s…\n", len(msgs), hooks)
	b, err := app.MeasureAlertBudget(cfg, org, msgs, from, to)
	if err != nil {
		return err
	}
	b.Print(stdout)
	return nil
}
