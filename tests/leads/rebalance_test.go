package leads

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/internal/testenv"
	"github.com/salespulse/salespulse/schemas"
)

// An instance that gives partitions up to one that joins its group drops
// their state (pipeline.Releaser), and the one that takes them restores
// it from the store: the open leads the two hold add up to those of the
// stream, not more. Before, the first instance kept every partition it
// had owned, so adding instances did not lower its memory.
func TestRebalanceMovesStateOut(t *testing.T) {
	in := startInfra(t)
	createTopic(t, in, "rebal.canonical")
	c := appConfig(in, "rebal", map[string]string{"rebal.canonical": "canonical"})
	// The window counts a lead open once the leads topic's event time,
	// minus out_of_orderness and allowed_lateness, passed it (it is
	// final): here the ticks move it, 2 s after the stream stopped, to
	// wall time. A lead stays open for leadExp.
	c.Leads.TickAfter = 2 * time.Second
	c.Window.OutOfOrderness, c.Window.AllowedLateness, c.Leads.Hold = 5*time.Second, 5*time.Second, 5*time.Second
	org := &schemas.Org{Teams: []schemas.Team{{ID: "t1", ManagerID: "m1"}},
		Reps: []schemas.Rep{{ID: "r1", TeamID: "t1"}, {ID: "m1", TeamID: "t1", Role: "manager"}}}
	cl := mustClient(t, kgo.SeedBrokers(in.kafka.Addrs()...))
	produce := func(from, n int) {
		t.Helper()
		// Just inside the allowed lateness when it arrives after the
		// ticks began; final some 10 s later.
		start := time.Now().Add(-3 * time.Second).Truncate(time.Millisecond)
		var recs []*kgo.Record
		for k := from; k < from+n; k++ {
			i := schemas.Interaction{EventID: fmt.Sprintf("rebal-lead-%d", k), OccurredAt: start.Add(time.Duration(k) * time.Millisecond),
				Source: "test", Type: schemas.TypeLeadCreated, RepID: "r1", TeamID: "t1", LeadID: fmt.Sprintf("L-%d", k)}
			i.Normalize()
			recs = append(recs, &kgo.Record{Topic: "rebal.canonical", Key: []byte(i.LeadID), Value: schemas.AppendJSON(nil, &i)})
		}
		if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	open := func(r *runningApp) float64 {
		if r == nil {
			return -1 // not started
		}
		return testenv.SumMetric(r.reg, "salespulse_window_open_items", "kind", "lead")
	}
	var a, b *runningApp
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("not in a minute: %s (open leads: first %v, second %v)", what, open(a), open(b))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	a = runApp(t, c, org)
	produce(0, 400)
	waitFor("the first instance holds the 400 open leads", func() bool { return open(a) == 400 })

	b = runApp(t, c, org)
	released := func() float64 {
		return testenv.SumMetric(a.reg, "salespulse_pipeline_partitions_released_total", "pipeline", "leads")
	}
	waitFor("the first instance releases leads partitions", func() bool { return released() > 0 && open(a) < 400 })
	t.Logf("after the second instance joined: the first released %v leads partitions and holds %v open leads", released(), open(a))

	// New leads on every partition: the second instance's batches restore
	// what it took over from the store.
	produce(400, 400)
	waitFor("the two instances hold the 800 open leads between them", func() bool { return open(a)+open(b) == 800 })
	time.Sleep(3 * time.Second) // and stay there: no partition held twice
	t.Logf("then: first %v, second %v open leads", open(a), open(b))
	if open(a)+open(b) != 800 || open(a) == 0 || open(b) == 0 {
		t.Fatalf("open leads %v and %v: want 800 between them, both holding some", open(a), open(b))
	}
}
