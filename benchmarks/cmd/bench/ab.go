package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"text/tabwriter"
)

// A/B of two builds (--ab OTHER). On these shared 2-core machines a
// drain's pipeline CPU moves by up to ±15 % between runs of one binary and a
// live run's p99 by 2-3× within an hour, so two builds compare only run
// beside each other: each round runs every scenario once with OTHER's
// pipeline ("before") and once with this build's ("after"), on stacks of
// this build, the order alternating between rounds so that a drift of
// the machine favours neither. OTHER must speak this build's child
// protocol (its -role=pipeline flags and messages): a build of a nearby
// commit does.

// abRounds runs c.runs rounds of every scenario, before and after.
func abRounds(c config) ([]result, error) {
	if st, err := os.Stat(c.abBin); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("--ab %s: not an executable file (%v)", c.abBin, err)
	}
	var all []result
	for run := 1; run <= c.runs; run++ {
		sides := []string{"before", "after"}
		if run%2 == 0 {
			sides = []string{"after", "before"}
		}
		for _, sc := range strings.Split(c.scenarios, ",") {
			for _, side := range sides {
				cs := c
				cs.tag = "-" + side
				if side == "before" {
					cs.pipelineBin = c.abBin
				}
				rs, err := runScenario(cs, sc, run)
				if err != nil {
					return all, fmt.Errorf("%s%s run %d: %w", sc, cs.tag, run, err)
				}
				for k := range rs {
					rs[k].Side = side
				}
				all = append(all, rs...)
			}
		}
	}
	return all, nil
}

// abFigure is one row of the A/B table.
type abFigure struct {
	name, format string
	f            func(*result) float64
}

// abFigures are the figures compared for a scenario.
func abFigures(sc string) []abFigure {
	if sc == "live" {
		return []abFigure{
			{"pipeline CPU-s/M", "%.2f", (*result).cpuPerM},
			{"stack CPU-s/M", "%.2f", (*result).stackPerM},
			{"p50 event → queryable", "%.2f s", func(r *result) float64 { return r.VisP50 }},
			{"p99 event → queryable", "%.2f s", func(r *result) float64 { return r.VisP99 }},
			{"p50 event → webhook", "%.2f s", func(r *result) float64 { return r.HookP50 }},
			{"p99 event → webhook", "%.2f s", func(r *result) float64 { return r.HookP99 }},
		}
	}
	if strings.HasPrefix(sc, "provisional") {
		// The idle scenarios produce nothing else: no CPU per event.
		fs := []abFigure{
			{"p50 answer → provisional", "%.2f s", func(r *result) float64 { return r.ProvP50 }},
			{"p99 answer → provisional", "%.2f s", func(r *result) float64 { return r.ProvP99 }},
		}
		if strings.HasSuffix(sc, "-loaded") {
			fs = append(fs, abFigure{"pipeline CPU-s/M", "%.2f", (*result).cpuPerM},
				abFigure{"ingest lag at the end", "%.0f", func(r *result) float64 { return r.LagAtStop }})
		}
		return fs
	}
	return []abFigure{
		{"pipeline CPU-s/M", "%.2f", (*result).cpuPerM},
		{"of it, kernel CPU-s/M", "%.2f", func(r *result) float64 { return r.PipeSys / r.Events * 1e6 }},
		{"stack CPU-s/M", "%.2f", (*result).stackPerM},
		{"events/s", "%.0f", func(r *result) float64 { return r.EventsPS }},
		{"pipeline peak RSS MB", "%.0f", func(r *result) float64 { return r.PipeRSS }},
		{"inserts into interactions", "%.0f", func(r *result) float64 { return r.Inserts["interactions"].Inserts }},
	}
}

// printAB prints the before/after table of an --ab run: per figure the
// median (range) of each side, the median (range) of the per-round
// after/before ratios, and in how many rounds after was lower.
func printAB(w io.Writer, all []result, c config) {
	type key struct{ scenario, side string }
	by := map[key][]result{}
	var order []string
	for _, r := range all {
		if by[key{r.Scenario, "before"}] == nil && by[key{r.Scenario, "after"}] == nil {
			order = append(order, r.Scenario)
		}
		by[key{r.Scenario, r.Side}] = append(by[key{r.Scenario, r.Side}], r)
	}
	fmt.Fprintf(w, "\nA/B on this machine (%d cores): before = the pipeline of %s, after = this build's; %d rounds, the order alternating;\n"+
		"medians (range); ratio = median (range) of the per-round after/before ratios; lower = rounds in which after was lower\n\n", numCPU(), c.abBin, c.runs)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tfigure\tbefore\tafter\tratio\tlower\t")
	for _, sc := range order {
		before, after := by[key{sc, "before"}], by[key{sc, "after"}]
		for _, f := range abFigures(sc) {
			ratios := roundRatios(before, after, f)
			lower := 0
			for _, r := range ratios {
				if r < 1 {
					lower++
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d of %d\t\n", sc, f.name, abCell(before, f), abCell(after, f), abSpread(ratios, "%.2f"), lower, len(ratios))
		}
	}
	tw.Flush()
}

// roundRatios are the after/before ratios of f, one per round that has a
// positive, finite f on both sides (--ab, --compare-leads).
func roundRatios(before, after []result, f abFigure) []float64 {
	var ratios []float64
	for _, a := range after {
		for _, b := range before {
			if x, y := f.f(&a), f.f(&b); a.Run == b.Run && x > 0 && y > 0 && !math.IsInf(x, 0) && !math.IsInf(y, 0) {
				ratios = append(ratios, x/y)
			}
		}
	}
	return ratios
}

// abCell is the median (range) of f over rs, n/a without a positive value.
func abCell(rs []result, f abFigure) string {
	var xs []float64
	for k := range rs {
		if v := f.f(&rs[k]); v > 0 && !math.IsInf(v, 0) {
			xs = append(xs, v)
		}
	}
	return abSpread(xs, f.format)
}

// abSpread formats the median and range of xs.
func abSpread(xs []float64, format string) string {
	if len(xs) == 0 {
		return "n/a"
	}
	lo, hi := xs[0], xs[0]
	for _, x := range xs {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	return fmt.Sprintf(format+" ("+format+"–"+format+")", median(xs), lo, hi)
}
