package alerts_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/salespulse/salespulse/internal/kafkaio"
	"github.com/salespulse/salespulse/pipeline"
	"github.com/salespulse/salespulse/pipeline/anomaly"
	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sinks/alert"
	"github.com/salespulse/salespulse/sources/gen"
)

// A hook that hangs loses no alert and slows no partition. The receiver
// hangs every request for 5 s (the minute, shortened: with a 1 s
// attempt timeout and 2 attempts a delivery is parked after ~1.1 s whether
// the hang lasts 5 s or 60 s; a longer hang only adds park cycles of
// park_delay + 2 attempts, each an acknowledged Kafka record). Throughput
// is asserted by counting batches the pipeline acknowledged while the hook
// hung, not by timing.
func TestHangingHookLosesNothingAndSlowsNoPartition(t *testing.T) {
	c := newCluster(t)
	g, err := gen.New(genConfig(3))
	if err != nil {
		t.Fatal(err)
	}
	idx := schemas.NewIndex(g.Org())
	matrix, err := anomaly.LoadMatrix("testdata/matrix.yml")
	if err != nil {
		t.Fatal(err)
	}
	det, err := anomaly.New(anomaly.Config{SLA: anomaly.SLAConfig{Default: 16 * time.Hour}}, matrix, idx, anomaly.Deps{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	prod := newProducer(t, c)
	sink := &countingSink{sinks: []pipeline.Sink{kafkaio.NewAlertProducer(prod.cl, "sales.alerts")}}
	startPipeline(t, c, det, sink)

	rc := newReceiver(t, checkWebhook)
	hangUntil := time.Now().Add(5 * time.Second)
	rc.delay.Store(&hangUntil)
	reg := prometheus.NewRegistry()
	startDispatcher(t, c, alert.Config{
		ParkDelay: 500 * time.Millisecond,
		Hooks: []alert.HookConfig{{
			Name: "hangs", Type: alert.HookWebhook, URL: rc.srv.URL, Secret: secret,
			Timeout: time.Second, MaxAttempts: 2, BackoffMin: 50 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
			QueueSize: 16, BreakerFailures: 3, BreakerCooldown: time.Second, RatePerSecond: 1000,
		}},
	}, reg)

	var events []schemas.Interaction
	var keys [][]byte
	var i schemas.Interaction
	for {
		key, ok := g.Next(&i)
		if !ok {
			break
		}
		events = append(events, i)
		i = schemas.Interaction{}
		keys = append(keys, append([]byte(nil), key...))
	}
	half := len(events) / 2
	for k := 0; k < half; k++ {
		prod.send(t, keys[k], &events[k])
	}
	prod.flush(t)
	// Halfway through the hang, the second half goes in.
	time.Sleep(time.Until(hangUntil.Add(-2500 * time.Millisecond)))
	ackedMid := sink.acked.Load()
	for k := half; k < len(events); k++ {
		prod.send(t, keys[k], &events[k])
	}
	prod.flush(t)
	// Wait for the pipeline to take it all in while the hook still hangs.
	for time.Now().Before(hangUntil.Add(-500*time.Millisecond)) && sink.acked.Load() == ackedMid {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(time.Until(hangUntil.Add(-300 * time.Millisecond)))
	ackedDuringHang := sink.acked.Load() - ackedMid
	gotDuringHang, _ := rc.snapshot()
	written := sink.written()
	if ackedDuringHang == 0 {
		t.Fatal("the pipeline acknowledged no batch while the hook hung")
	}
	if len(gotDuringHang) != 0 {
		t.Fatalf("a hanging receiver recorded %d deliveries", len(gotDuringHang))
	}
	t.Logf("while the hook hung: %d batches acknowledged after the second half was produced, %d alert transitions written; %d requests hung",
		ackedDuringHang, len(written), rc.hits.Load())

	// After the hang every transition the pipeline wrote arrives.
	want := map[string]int{}
	for _, a := range written {
		want[a.ID+" "+a.State.String()] = 1
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		got, _ := rc.snapshot()
		if len(got) >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	got, bad := rc.snapshot()
	if len(bad) > 0 {
		t.Errorf("rejected payloads: %v", bad[:1])
	}
	compare(t, "after the hang", got, want, nil)
	parked := testutil.ToFloat64(deliveries(t, reg, "hangs", "parked")) + testutil.ToFloat64(deliveries(t, reg, "hangs", "queue_full")) +
		testutil.ToFloat64(deliveries(t, reg, "hangs", "breaker_open"))
	if parked == 0 {
		t.Error("nothing was parked although the hook hung")
	}
	t.Logf("%d transitions delivered after the hang; %v parked on the way", len(got), parked)
}

// deliveries reads salespulse_alert_deliveries_total{hook,outcome}.
func deliveries(t *testing.T, reg *prometheus.Registry, hook, outcome string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	v := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "salespulse_alert_deliveries_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var h, o string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "hook":
					h = l.GetValue()
				case "outcome":
					o = l.GetValue()
				}
			}
			if h == hook && o == outcome {
				v = m.GetCounter().GetValue()
			}
		}
	}
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
	c.Add(v)
	return c
}
