package main

// The lead hop's cost (issue 12, `make bench-hop`): the same runs with
// leads.disabled (before: one flow) and with the hop (after: ingest,
// contacts and leads flows), and a table of the two side by side.

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// groups are the consumer groups of the run's flows: internal/app names
// the contacts and leads flows' groups after the ingest group.
func (e *runEnv) groups() []string {
	if !e.leads {
		return []string{e.group}
	}
	return []string{e.group, e.group + ".contacts", e.group + ".leads"}
}

// caughtUp reports whether every flow's consumer group has committed up to
// the end of every partition it reads, as the brokers see it: the raw rows
// being stored says nothing of the contacts and leads flows, which store
// their facts after the ingest flow has forwarded the last batch. It
// returns the total lag otherwise (-1: a group not yet formed).
func (e *runEnv) caughtUp(ctx context.Context) (bool, int64, error) {
	if e.adm == nil {
		cl, err := kgo.NewClient(kgo.SeedBrokers(e.ready.Kafka...))
		if err != nil {
			return false, 0, err
		}
		e.adm = kadm.NewClient(cl)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	lags, err := e.adm.Lag(ctx, e.groups()...)
	if err != nil {
		return false, 0, err
	}
	var total int64
	for _, g := range e.groups() {
		l, ok := lags[g]
		if !ok || l.Error() != nil || l.State != "Stable" || len(l.Lag) == 0 {
			return false, -1, nil
		}
		for _, ps := range l.Lag {
			for _, p := range ps {
				if p.Err != nil {
					return false, -1, nil
				}
				total += max(p.Lag, 0)
			}
		}
	}
	return total == 0, total, nil
}

// printCompare prints the before/after table of a --compare-leads run.
func printCompare(w io.Writer, all []result, c config) {
	type key struct {
		scenario string
		leads    bool
	}
	by := map[key][]result{}
	var order []string
	for _, r := range all {
		k := key{r.Scenario, r.Leads}
		if _, ok := by[key{r.Scenario, !r.Leads}]; !ok && by[k] == nil {
			order = append(order, r.Scenario)
		}
		by[k] = append(by[k], r)
	}
	fmt.Fprintf(w, "\nThe lead hop (issue 12) on this machine (%d cores): before = leads.disabled (one flow), after = the hop (ingest, contacts, leads flows);\n"+
		"%d interleaved rounds, medians (range); ratio = median of the per-round after/before ratios\n\n", numCPU(), c.runs)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tfigure\tbefore\tafter\tratio\t")
	lat := func(flow string, p99 bool) func(*result) float64 {
		return func(r *result) float64 {
			l, ok := r.FlowE2E[flow]
			if !ok {
				return math.NaN()
			}
			if p99 {
				return l.P99
			}
			return l.P50
		}
	}
	for _, sc := range order {
		before, after := by[key{sc, false}], by[key{sc, true}]
		figs := []abFigure{
			{"pipeline CPU-s/M", "%.2f", (*result).cpuPerM},
			{"stack CPU-s/M", "%.2f", (*result).stackPerM},
			{"events/s", "%.0f", func(r *result) float64 { return r.EventsPS }},
			{"pipeline RSS MB", "%.0f", func(r *result) float64 { return r.PipeRSS }},
		}
		if sc == "live" {
			figs = []abFigure{
				{"pipeline CPU-s/M", "%.2f", (*result).cpuPerM},
				{"p99 event → raw row queryable (markers)", "%.2f s", func(r *result) float64 { return r.VisP99 }},
				{"p99 event → raw row stored (ingest)", "%.2f s", lat("ingest", true)},
				// Before, the ingest flow stores the facts with the rows.
				{"p99 event → KBI facts stored (before: ingest, after: leads)", "%.2f s", func(r *result) float64 {
					if r.Leads {
						return lat("leads", true)(r)
					}
					return lat("ingest", true)(r)
				}},
				{"p50 event → KBI facts stored", "%.2f s", func(r *result) float64 {
					if r.Leads {
						return lat("leads", false)(r)
					}
					return lat("ingest", false)(r)
				}},
				{"p99 event → alert row stored", "%.2f s", func(r *result) float64 { return r.AlertP99 }},
			}
		}
		for _, f := range figs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", sc, f.name, abCell(before, f), abCell(after, f), abSpread(roundRatios(before, after, f), "%.2f"))
		}
	}
	tw.Flush()
	var warn []string
	for _, r := range all {
		if r.Warning != "" {
			warn = append(warn, fmt.Sprintf("%s run %d (leads %v): %s", r.Scenario, r.Run, r.Leads, r.Warning))
		}
	}
	if len(warn) > 0 {
		fmt.Fprintf(w, "\nwarnings:\n  %s\n", strings.Join(warn, "\n  "))
	}
}
