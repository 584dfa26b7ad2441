package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/internal/app"
	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/canonical"
	"github.com/salespulse/salespulse/sources/gen"
)

// provPoll is how often the provisional scenarios ask ClickHouse which
// answers have a provisional row: each latency includes up to one
// interval of polling granularity (half of it on average).
const provPoll = 50 * time.Millisecond

// provisional measures answer → provisional fact queryable (issue 13,
// docs/kbis.md "Provisional facts"): --deadline-leads leads are produced
// and consumed first; then their answers (call.outbound by the lead's
// rep, event time = produce time) are produced at known wall times spread
// over --deadline-span, and a poller asks every provPoll
//
//	SELECT lead_id, response_event_id FROM salespulse.lead_response_provisional FINAL WHERE lead_id IN (…)
//
// for the answers produced and not seen yet. Each answer's latency is
// (first poll that returned its row − its produce time). The pair cannot
// turn final during the run (it would need window.out_of_orderness +
// allowed_lateness, 65 min by default, of event time past the answer), so
// the row the poll sees is the provisional one; FINAL hides tombstones.
//
//   - idle: the leads and answers are the only records; the path is
//     ingest → the leads topic → the leads flow's window stage → its
//     ClickHouse insert, with each flow's batch linger on the way. No
//     watermark or tick is involved: the batch that brings an answer
//     writes its row.
//   - loaded: the generator's stream at --live-rate (event time = produce
//     time) runs from before the first answer until every answer is seen
//     or 15 s after the last; the ingest lag when it stopped is reported
//     as the deadline scenarios do.
//
// The pipeline runs with its defaults (no --tick-after etc.): ticks and
// the detectors' out_of_orderness do not touch this path.
//
// touch (provisional-touch-*): each lead has a phone number and its
// answer names only that number, as an Aircall or Twilio call does, so
// the answer takes the contacts flow: the Router sends it to the contacts
// topic, and the Resolver holds it pending until the contacts partition's
// event time reaches it (docs/leads.md, "When a touch is resolved") before
// it goes to its lead's partition. The difference to the scenario without
// touch is that wait and the extra hop.
func provisional(c config, run int, loaded, touch bool) (result, error) {
	name := map[bool]string{false: "provisional-idle", true: "provisional-loaded"}[loaded]
	if touch {
		name = strings.Replace(name, "provisional-", "provisional-touch-", 1)
	}
	r := result{Scenario: name, Run: run, Instances: 1}
	if !c.leads {
		return r, fmt.Errorf("%s: provisional facts are written by the leads flow: drop --leads=false", name)
	}
	e, err := setup(c, fmt.Sprintf("%s%s-%d", name, c.tag, run), "canonical", 0, 1, false, "")
	if e != nil {
		defer e.close()
	}
	if err != nil {
		return r, err
	}
	org, err := app.LoadOrg(e.ready.OrgFile)
	if err != nil {
		return r, err
	}
	g, err := gen.New(genConfig(c.childFlags))
	if err != nil {
		return r, err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.ready.Kafka...), kgo.ProducerLinger(2*time.Millisecond), kgo.MaxBufferedRecords(100000))
	if err != nil {
		return r, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), c.deadlineSpan+4*time.Minute)
	defer cancel()

	var in schemas.Interaction
	traffic := func(now time.Time) {
		key, _ := g.Next(&in)
		in.OccurredAt = now
		cl.Produce(ctx, &kgo.Record{Topic: canonical.DefaultTopic, Key: append([]byte(nil), key...), Value: schemas.AppendJSON(nil, &in)}, nil)
	}
	e.start()

	// The measured leads, created a minute ago, consumed by every flow
	// before the first answer: what is timed is the answer's path only.
	n := c.deadlineLeads
	created := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	leads := make([]schemas.Interaction, n)
	recs := make([]*kgo.Record, 0, n)
	for k := range leads {
		rep := org.Reps[k%len(org.Reps)]
		id := fmt.Sprintf("bench-prov-%d-%d", run, k)
		x := schemas.Interaction{EventID: id + "-created", OccurredAt: created, Source: "bench",
			Type: schemas.TypeLeadCreated, Channel: schemas.ChannelCRM, RepID: rep.ID, TeamID: rep.TeamID, LeadID: id}
		if touch {
			x.Contact = schemas.Contact{Phone: provPhone(run, k), Country: "US"}
		}
		x.Normalize()
		leads[k] = x
		recs = append(recs, &kgo.Record{Topic: canonical.DefaultTopic, Key: []byte(id), Value: schemas.AppendJSON(nil, &x)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return r, fmt.Errorf("produce the leads: %w", err)
	}
	for {
		tot, _, err := e.stats()
		if err != nil {
			return r, err
		}
		if tot.Stored >= float64(n) {
			ok, _, err := e.caughtUp(ctx)
			if err != nil {
				return r, err
			}
			if ok {
				break
			}
		}
		if ctx.Err() != nil {
			return r, fmt.Errorf("the %d leads were never consumed by every flow", n)
		}
		time.Sleep(100 * time.Millisecond)
	}

	type answer struct {
		lead, id string
		at       time.Time
	}
	var (
		mu      sync.Mutex
		pending []answer
		lat     []float64
		seen    int
	)
	pollDone, stopPoll := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(pollDone)
		t := time.NewTicker(provPoll)
		defer t.Stop()
		for {
			select {
			case <-stopPoll:
				return
			case <-t.C:
			}
			mu.Lock()
			as := append([]answer(nil), pending...)
			mu.Unlock()
			if len(as) == 0 {
				continue
			}
			ids := make([]string, len(as))
			for k, a := range as {
				ids[k] = "'" + a.lead + "'"
			}
			// By the table's key (lead_id, trigger_event_id); the
			// response id says it is this answer's row.
			q := "SELECT lead_id, response_event_id FROM salespulse.lead_response_provisional FINAL WHERE lead_id IN (" +
				strings.Join(ids, ",") + ") FORMAT TabSeparated"
			qctx, qcancel := context.WithTimeout(ctx, 5*time.Second)
			out, err := chQuery(qctx, e.ready.ClickHouse, q)
			qcancel()
			now := time.Now()
			if err != nil {
				continue
			}
			vis := map[string]bool{}
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				if lead, resp, ok := strings.Cut(l, "\t"); ok {
					vis[lead+"\x00"+resp] = true
				}
			}
			mu.Lock()
			keep := pending[:0]
			for _, a := range pending {
				if vis[a.lead+"\x00"+a.id] {
					lat = append(lat, now.Sub(a.at).Seconds())
					seen++
				} else {
					keep = append(keep, a)
				}
			}
			pending = keep
			mu.Unlock()
		}
	}()
	allSeen := func() bool { mu.Lock(); defer mu.Unlock(); return seen >= n }

	// Answers at first + k·span/n, the background traffic (loaded) paced
	// in 5 ms ticks on the same loop; the producer's CPU is this
	// process's, not the pipeline's or the stack's.
	start := time.Now()
	first := start.Add(2 * time.Second)
	last := first.Add(time.Duration(n-1) * c.deadlineSpan / time.Duration(n))
	stop := last.Add(15 * time.Second)
	var produced int64
	next := 0
	tick := time.NewTicker(5 * time.Millisecond)
	for t := range tick.C {
		if next == n && (!loaded || t.After(stop) || allSeen()) {
			break
		}
		if loaded {
			due := int64(t.Sub(start).Seconds() * float64(c.liveRate))
			for ; produced < due; produced++ {
				traffic(time.Now())
			}
		}
		for ; next < n && !t.Before(first.Add(time.Duration(next)*c.deadlineSpan/time.Duration(n))); next++ {
			l := &leads[next]
			at := time.Now()
			x := schemas.Interaction{EventID: l.LeadID + "-answer", OccurredAt: at, Source: "bench",
				Type: schemas.TypeCallOutbound, RepID: l.RepID, TeamID: l.TeamID, LeadID: l.LeadID}
			key := l.LeadID
			if touch {
				// A telephony system's call: the number, no lead; keyed
				// by the rep, as a vendor relay keys by user.
				x.LeadID, x.Contact, key = "", l.Contact, l.RepID
			}
			x.Normalize()
			cl.Produce(ctx, &kgo.Record{Topic: canonical.DefaultTopic, Key: []byte(key), Value: schemas.AppendJSON(nil, &x)}, nil)
			mu.Lock()
			pending = append(pending, answer{l.LeadID, x.EventID, at})
			mu.Unlock()
		}
	}
	tick.Stop()
	cl.Flush(ctx)
	if loaded {
		if tot, _, err := e.stats(); err == nil {
			r.LagAtStop = tot.Flows["ingest"].Lag
		}
		r.Events = float64(produced)
		r.Seconds = time.Since(start).Seconds()
		r.EventsPS = r.Events / r.Seconds
		if r.EventsPS < 0.95*float64(c.liveRate) {
			r.Warning = fmt.Sprintf("producer reached only %.0f events/s", r.EventsPS)
		}
	}
	for !allSeen() && ctx.Err() == nil {
		time.Sleep(provPoll)
	}
	close(stopPoll)
	<-pollDone
	if err := e.finish(&r); err != nil {
		return r, err
	}
	mu.Lock()
	sort.Float64s(lat)
	mu.Unlock()
	r.ProvN, r.ProvP50, r.ProvP99 = float64(len(lat)), pct(lat, 0.5), pct(lat, 0.99)
	if len(lat) > 0 {
		r.ProvMin, r.ProvMax = lat[0], lat[len(lat)-1]
	}
	if len(lat) < n {
		w := fmt.Sprintf("%d of %d answers never had a provisional row", n-len(lat), n)
		if r.Warning != "" {
			w = r.Warning + "; " + w
		}
		r.Warning = w
	}
	return r, nil
}

// provPhone is the k-th measured lead's number in run, a US number of
// the 555-01xx range libphonenumber accepts, unique per run and lead.
func provPhone(run, k int) string {
	return fmt.Sprintf("+1 201 55%d %04d", 5+run%4, k%10000)
}

// printProvisional prints the provisional scenarios' table.
func printProvisional(w io.Writer, by map[string][]result, c config) {
	names := []string{"provisional-idle", "provisional-loaded", "provisional-touch-idle", "provisional-touch-loaded"}
	n := 0
	for _, s := range names {
		n += len(by[s])
	}
	if n == 0 {
		return
	}
	med := func(rs []result, f func(*result) float64) float64 {
		var xs []float64
		for k := range rs {
			xs = append(xs, f(&rs[k]))
		}
		return median(xs)
	}
	fmt.Fprintf(w, "\nanswer → provisional fact queryable (%d answers over %s per run, lead_response_provisional FINAL polled every %s), medians of runs:\n",
		c.deadlineLeads, c.deadlineSpan, provPoll)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\truns\tp50\tp99\tmin\tmax\tseen\tother traffic events/s\tingest lag at its end\t")
	for _, s := range names {
		rs := by[s]
		if len(rs) == 0 {
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%.0f\t%.0f\t%.0f\t\n", s, len(rs),
			secs(med(rs, func(r *result) float64 { return r.ProvP50 })), secs(med(rs, func(r *result) float64 { return r.ProvP99 })),
			secs(med(rs, func(r *result) float64 { return r.ProvMin })), secs(med(rs, func(r *result) float64 { return r.ProvMax })),
			med(rs, func(r *result) float64 { return r.ProvN }), med(rs, func(r *result) float64 { return r.EventsPS }),
			med(rs, func(r *result) float64 { return r.LagAtStop }))
	}
	tw.Flush()
}
