package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sinks/alert"
	"github.com/salespulse/salespulse/sources/canonical"
	"github.com/salespulse/salespulse/sources/gen"
)

func numCPU() int { return runtime.NumCPU() }

// live produces c.liveRate events/s for c.liveFor with event time = produce
// time into a stack with one pipeline, and measures event → queryable.
//
// Markers: every 20ms the event being produced is remembered; a poller asks
// ClickHouse every 100ms which remembered event ids are visible, so each
// marker's latency is (first poll that saw it) − (its event time), i.e. it
// includes up to 100ms of polling granularity (~50ms on average). The
// pipeline's own histogram (ClickHouse acknowledged − event time, every
// event) is reported beside it.
func live(c config, run int) (result, error) {
	r := result{Scenario: "live", Run: run, Instances: 1}
	// The webhook: event → delivered latency of the discount alerts, whose
	// "at" is the quote's event time, i.e. its produce time here.
	var (
		hookMu  sync.Mutex
		hookLat []float64
	)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return r, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		now := time.Now()
		body, _ := io.ReadAll(req.Body)
		if m, err := alert.Decode(body); err == nil && m.State == "firing" {
			hookMu.Lock()
			hookLat = append(hookLat, now.Sub(m.At).Seconds())
			hookMu.Unlock()
		}
		w.WriteHeader(http.StatusNoContent)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	e, err := setup(c, fmt.Sprintf("live%s-%d", c.tag, run), "canonical", 0, 1, c.profiles && run == 1, "http://"+ln.Addr().String()+"/hook")
	if e != nil {
		defer e.close()
	}
	if err != nil {
		return r, err
	}
	gc := genConfig(c.childFlags)
	g, err := gen.New(gc)
	if err != nil {
		return r, err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.ready.Kafka...), kgo.ProducerLinger(2*time.Millisecond), kgo.MaxBufferedRecords(100000))
	if err != nil {
		return r, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), c.liveFor+2*time.Minute)
	defer cancel()

	var in schemas.Interaction
	produce := func(now time.Time) string {
		key, _ := g.Next(&in)
		in.OccurredAt = now
		cl.Produce(ctx, &kgo.Record{Topic: canonical.DefaultTopic, Key: append([]byte(nil), key...), Value: schemas.AppendJSON(nil, &in)}, nil)
		return in.EventID
	}

	e.start()
	// Wait for the group to be joined and partitions assigned: one event
	// through before the measured stream starts.
	produce(time.Now())
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

	type marker struct {
		id string
		at time.Time
	}
	var (
		mu      sync.Mutex
		pending []marker
		lat     []float64
	)
	pollDone := make(chan struct{})
	stopPoll := make(chan struct{})
	go func() {
		defer close(pollDone)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopPoll:
				return
			case <-t.C:
			}
			mu.Lock()
			ms := append([]marker(nil), pending[:min(len(pending), 500)]...)
			mu.Unlock()
			if len(ms) == 0 {
				continue
			}
			ids := make([]string, len(ms))
			oldest := ms[0].at
			for k, m := range ms {
				ids[k] = "'" + m.id + "'"
				if m.at.Before(oldest) {
					oldest = m.at
				}
			}
			// The event time bound lets ClickHouse skip every part older
			// than the oldest pending marker (the partition's min/max
			// index on occurred_at); without it each poll read the
			// event_id of every row stored so far, ten times a second, on
			// the stack whose CPU the pipeline's inserts need.
			q := "SELECT event_id FROM salespulse.interactions WHERE occurred_at >= fromUnixTimestamp64Milli(" +
				strconv.FormatInt(oldest.Add(-time.Second).UnixMilli(), 10) + ") AND event_id IN (" + strings.Join(ids, ",") + ") FORMAT TabSeparated"
			qctx, qcancel := context.WithTimeout(ctx, 5*time.Second)
			out, err := chQuery(qctx, e.ready.ClickHouse, q)
			qcancel()
			seen := time.Now()
			if err != nil {
				continue
			}
			vis := map[string]bool{}
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				vis[l] = true
			}
			mu.Lock()
			keep := pending[:0]
			for _, m := range pending {
				if vis[m.id] {
					lat = append(lat, seen.Sub(m.at).Seconds())
				} else {
					keep = append(keep, m)
				}
			}
			pending = keep
			mu.Unlock()
		}
	}()

	// Pace in 5ms ticks; the producer's own CPU is this process's, not the
	// pipeline's or the stack's.
	start := time.Now()
	var produced int64
	nextMarker := start
	tick := time.NewTicker(5 * time.Millisecond)
	for now := range tick.C {
		el := now.Sub(start)
		if el >= c.liveFor {
			break
		}
		due := int64(el.Seconds() * float64(c.liveRate))
		for ; produced < due; produced++ {
			t := time.Now()
			id := produce(t)
			if !t.Before(nextMarker) {
				nextMarker = t.Add(20 * time.Millisecond)
				mu.Lock()
				pending = append(pending, marker{id, t})
				mu.Unlock()
			}
		}
	}
	tick.Stop()
	cl.Flush(ctx)
	achieved := float64(produced) / time.Since(start).Seconds()
	// Wait until everything is stored and every marker seen.
	want := float64(produced + 1)
	for {
		tot, _, err := e.stats()
		if err != nil {
			return r, err
		}
		mu.Lock()
		left := len(pending)
		mu.Unlock()
		if tot.Stored >= want && left == 0 {
			// And the contacts and leads flows done too: their
			// histogram is event → facts stored.
			ok, _, err := e.caughtUp(ctx)
			if err != nil {
				return r, err
			}
			if ok {
				break
			}
		}
		if ctx.Err() != nil {
			return r, fmt.Errorf("live: %.0f of %.0f stored, %d markers unseen", tot.Stored, want, left)
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(stopPoll)
	<-pollDone
	r.Events = float64(produced)
	r.Seconds = c.liveFor.Seconds()
	r.EventsPS = achieved
	if err := e.finish(&r); err != nil {
		return r, err
	}
	sort.Float64s(lat)
	r.VisN = len(lat)
	r.VisP50, r.VisP99 = pct(lat, 0.5), pct(lat, 0.99)

	// Alerts the anomaly stage raised on the spot (discounts) carry the
	// quote's event time in `at`; ingested_at is when the sink took the
	// batch, right after the stages: event → alert ready for delivery.
	q := `SELECT quantileExact(0.5)(d), quantileExact(0.99)(d), count() FROM (
		SELECT (toUnixTimestamp64Milli(ingested_at) - toUnixTimestamp64Milli(at)) / 1000 AS d
		FROM salespulse.alerts
		WHERE rule IN ('discount_beyond_authority', 'discount_without_approval') AND state = 'firing'
		  AND at >= fromUnixTimestamp64Milli(` + strconv.FormatInt(start.UnixMilli(), 10) + `)) FORMAT TabSeparated`
	out, err := chQuery(ctx, e.ready.ClickHouse, q)
	if err == nil {
		f := strings.Fields(out)
		if len(f) == 3 {
			r.AlertP50, _ = strconv.ParseFloat(f[0], 64)
			r.AlertP99, _ = strconv.ParseFloat(f[1], 64)
			r.AlertN, _ = strconv.ParseFloat(f[2], 64)
			// No alerts in a short run: ClickHouse answers nan, which
			// JSON cannot hold.
			r.AlertP50, r.AlertP99 = finite(r.AlertP50), finite(r.AlertP99)
		}
	} else {
		r.Warning = "alert query: " + err.Error()
	}
	// Give the dispatcher a moment for the last alerts.
	time.Sleep(time.Second)
	hookMu.Lock()
	sort.Float64s(hookLat)
	r.HookN, r.HookP50, r.HookP99 = float64(len(hookLat)), pct(hookLat, 0.5), pct(hookLat, 0.99)
	hookMu.Unlock()
	if achieved < 0.95*float64(c.liveRate) {
		r.Warning = fmt.Sprintf("producer reached only %.0f events/s", achieved)
	}
	return r, nil
}

func pct(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	k := int(q*float64(len(sorted)-1) + 0.5)
	return sorted[k]
}
