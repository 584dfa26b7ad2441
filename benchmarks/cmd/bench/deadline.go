package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/internal/app"
	"github.com/salespulse/salespulse/pipeline/anomaly"
	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sinks/alert"
	"github.com/salespulse/salespulse/sources/canonical"
	"github.com/salespulse/salespulse/sources/gen"
)

// slaDefault is anomaly.sla.default, the deadline of a CRM lead.
const slaDefault = 30 * time.Minute

// deadline measures SLA deadline → webhook received (issue 13): leads
// whose SLA runs out at known wall times T, staggered over
// --deadline-span, and a local webhook that gets every
// lead_response_sla alert from the dispatcher; each lead's latency is
// (receipt − T), T being the alert's `at`.
//
//   - idle: the leads are the only records; once the pipeline has
//     consumed them and leads.tick_after has passed, only the wall-clock
//     ticks move the leads topic's time (docs/leads.md, "Quiet streams").
//     Expect tick_lag + anomaly.out_of_orderness + up to one tick period
//     (tick_after/4, at most 2 s) + the dispatcher's hop.
//   - loaded: the generator's stream at --live-rate (event time = produce
//     time) keeps running until every deadline has passed: the stream is
//     never quiet, so no tick; the events' own progress marks move time,
//     and the latency is the pipeline's (ingest → leads hop → detectors)
//     plus anomaly.out_of_orderness. The rate the producer reached is
//     reported as the run's events/s.
//
// The pipeline runs with leads.tick_after 5s, leads.tick_lag 1s and
// anomaly.out_of_orderness 1s unless --tick-after, --tick-lag and
// --alert-ooo say otherwise (the defaults, 1m, 10s and 1m, put every
// deadline 70 s late by construction).
func deadline(c config, run int, loaded bool) (result, error) {
	name := map[bool]string{false: "deadline-idle", true: "deadline-loaded"}[loaded]
	r := result{Scenario: name, Run: run, Instances: 1}
	if c.tickAfter == 0 {
		c.tickAfter = 5 * time.Second
	}
	if c.tickLag == 0 {
		c.tickLag = time.Second
	}
	if c.alertOOO == 0 {
		c.alertOOO = time.Second
	}
	c.hookRules = anomaly.RuleLeadResponseSLA
	if !c.leads {
		return r, fmt.Errorf("%s: the deadline scenarios need the lead hop (ticks): drop --leads=false", name)
	}

	var (
		mu   sync.Mutex
		got  = map[string]time.Duration{} // alert id → receipt − deadline
		want = map[string]bool{}          // lead ids of the measured leads
	)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return r, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		now := time.Now()
		body, _ := io.ReadAll(req.Body)
		if m, err := alert.Decode(body); err == nil && m.State == "firing" && m.Rule == anomaly.RuleLeadResponseSLA {
			mu.Lock()
			if _, seen := got[m.ID]; !seen && want[m.Values["lead_id"]] {
				got[m.ID] = now.Sub(m.At)
			}
			mu.Unlock()
		}
		w.WriteHeader(http.StatusNoContent)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	e, err := setup(c, fmt.Sprintf("%s%s-%d", name, c.tag, run), "canonical", 0, 1, false, "http://"+ln.Addr().String()+"/hook")
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
	ctx, cancel := context.WithTimeout(context.Background(), c.tickAfter+c.deadlineSpan+3*time.Minute)
	defer cancel()

	var in schemas.Interaction
	traffic := func(now time.Time) {
		key, _ := g.Next(&in)
		in.OccurredAt = now
		cl.Produce(ctx, &kgo.Record{Topic: canonical.DefaultTopic, Key: append([]byte(nil), key...), Value: schemas.AppendJSON(nil, &in)}, nil)
	}
	e.start()
	// The group joined: one event through before anything is measured.
	traffic(time.Now())
	for {
		tot, _, err := e.stats()
		if err != nil {
			return r, err
		}
		if tot.Stored >= 1 {
			break
		}
		if ctx.Err() != nil {
			return r, fmt.Errorf("first event never stored")
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The measured leads, all produced now, due from first on. Idle: the
	// ticks have begun by then (tick_after of quiet after the pipeline
	// consumed them, plus its tick period). Loaded: the stream runs.
	now := time.Now()
	first := now.Add(c.tickAfter + 10*time.Second)
	if loaded {
		first = now.Add(10 * time.Second)
	}
	n := c.deadlineLeads
	last := first
	recs := make([]*kgo.Record, 0, n)
	for k := range n {
		due := first.Add(time.Duration(k) * c.deadlineSpan / time.Duration(n)).Truncate(time.Millisecond)
		last = due
		rep := org.Reps[k%len(org.Reps)]
		lead := fmt.Sprintf("bench-deadline-%d-%d", run, k)
		x := schemas.Interaction{EventID: lead + "-created", OccurredAt: due.Add(-slaDefault), Source: "bench",
			Type: schemas.TypeLeadCreated, Channel: schemas.ChannelCRM, RepID: rep.ID, TeamID: rep.TeamID, LeadID: lead}
		x.Normalize()
		want[lead] = true
		recs = append(recs, &kgo.Record{Topic: canonical.DefaultTopic, Key: []byte(lead), Value: schemas.AppendJSON(nil, &x)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return r, fmt.Errorf("produce the leads: %w", err)
	}

	if loaded {
		// Until the last deadline plus the pipeline's own delay has
		// passed, so that the stream's progress carries every deadline.
		stop := last.Add(c.alertOOO + 15*time.Second)
		start := time.Now()
		var produced int64
		tick := time.NewTicker(5 * time.Millisecond)
		for t := range tick.C {
			if t.After(stop) || receivedAll(&mu, got, n) {
				break
			}
			due := int64(t.Sub(start).Seconds() * float64(c.liveRate))
			for ; produced < due; produced++ {
				traffic(time.Now())
			}
		}
		tick.Stop()
		cl.Flush(ctx)
		// How far behind the stream the pipeline was when it stopped: a
		// backlog that grew over the run makes the later deadlines late.
		if tot, _, err := e.stats(); err == nil {
			r.LagAtStop = tot.Flows["ingest"].Lag
		}
		r.Events = float64(produced)
		r.Seconds = time.Since(start).Seconds()
		r.EventsPS = float64(produced) / r.Seconds
		if r.EventsPS < 0.95*float64(c.liveRate) {
			r.Warning = fmt.Sprintf("producer reached only %.0f events/s", r.EventsPS)
		}
	}
	for !receivedAll(&mu, got, n) {
		if ctx.Err() != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := e.finish(&r); err != nil {
		return r, err
	}
	mu.Lock()
	lat := make([]float64, 0, len(got))
	for _, d := range got {
		lat = append(lat, d.Seconds())
	}
	mu.Unlock()
	sort.Float64s(lat)
	r.HookN, r.HookP50, r.HookP99 = float64(len(lat)), pct(lat, 0.5), pct(lat, 0.99)
	if len(lat) > 0 {
		r.DeadlineMin, r.DeadlineMax = lat[0], lat[len(lat)-1]
	}
	if len(lat) < n {
		w := fmt.Sprintf("%d of %d deadlines never reached the hook", n-len(lat), n)
		if r.Warning != "" {
			w = r.Warning + "; " + w
		}
		r.Warning = w
	}
	return r, nil
}

func receivedAll(mu *sync.Mutex, got map[string]time.Duration, n int) bool {
	mu.Lock()
	defer mu.Unlock()
	return len(got) >= n
}

// printDeadline prints the deadline scenarios' table.
func printDeadline(w io.Writer, by map[string][]result, c config) {
	if len(by["deadline-idle"])+len(by["deadline-loaded"]) == 0 {
		return
	}
	med := func(rs []result, f func(*result) float64) float64 {
		var xs []float64
		for k := range rs {
			xs = append(xs, f(&rs[k]))
		}
		return median(xs)
	}
	fmt.Fprintf(w, "\nSLA deadline → webhook received (%d leads over %s per run; leads.tick_after %s, tick_lag %s, anomaly.out_of_orderness %s unless set), medians of runs:\n",
		c.deadlineLeads, c.deadlineSpan, orDefault(c.tickAfter, 5*time.Second), orDefault(c.tickLag, time.Second), orDefault(c.alertOOO, time.Second))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\truns\tp50\tp99\tmin\tmax\tdelivered\tother traffic events/s\tingest lag at its end\t")
	for _, s := range []string{"deadline-idle", "deadline-loaded"} {
		rs := by[s]
		if len(rs) == 0 {
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%.0f\t%.0f\t%.0f\t\n", s, len(rs),
			secs(med(rs, func(r *result) float64 { return r.HookP50 })), secs(med(rs, func(r *result) float64 { return r.HookP99 })),
			secs(med(rs, func(r *result) float64 { return r.DeadlineMin })), secs(med(rs, func(r *result) float64 { return r.DeadlineMax })),
			med(rs, func(r *result) float64 { return r.HookN }), med(rs, func(r *result) float64 { return r.EventsPS }),
			med(rs, func(r *result) float64 { return r.LagAtStop }))
	}
	tw.Flush()
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}
