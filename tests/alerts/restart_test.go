package alerts_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/internal/kafkaio"
	"github.com/salespulse/salespulse/pipeline"
	"github.com/salespulse/salespulse/pipeline/anomaly"
	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/canonical"
	"github.com/salespulse/salespulse/sources/gen"
	"github.com/salespulse/salespulse/sources/kafka"
)

// Detector state survives a deploy and rebalances: instance A consumes
// part of the generated days; B joins the group (partitions move, A's
// state for them must reach B through the state store); A leaves (its
// partitions move to B); B finishes. The alerts written — SLA breaches
// of leads that arrived before the moves included — are exactly the
// oracle's, as for one uninterrupted instance.
func TestRestartAndRebalanceKeepDetectorState(t *testing.T) {
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
	const sla = 16 * time.Hour
	// Each instance has its own Kafka state store on one shared topic, as
	// separate processes would: a partition's state moves with it.
	newDetector := func() *anomaly.Detector {
		d, err := anomaly.New(anomaly.Config{SLA: anomaly.SLAConfig{Default: sla}}, matrix, idx,
			anomaly.Deps{State: newStore(t, c, "salespulse")}, prometheus.NewRegistry(), testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}

	prod := newProducer(t, c)
	or := newOracle(sla)
	var recs []*kgo.Record
	var i schemas.Interaction
	for {
		key, ok := g.Next(&i)
		if !ok {
			break
		}
		or.observe(partitionOf(key), &i)
		recs = append(recs, recordFor(key, &i))
	}
	or.finish(idx.TeamOf)
	all := map[string]int{}
	for k := range or.want {
		all[k] = 1
	}
	third := len(recs) / 3
	send := func(rs []*kgo.Record) {
		if err := prod.cl.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	sink := &countingSink{}
	send(recs[:third])
	stopA := startInstance(t, c, newDetector(), sink)
	settle(t, sink)
	send(recs[third : 2*third])
	stopB := startInstance(t, c, newDetector(), sink) // rebalance: partitions move to B
	settle(t, sink)
	stopA() // A leaves: its partitions move to B
	send(recs[2*third:])
	settle(t, sink)
	stopB()
	got := distinct(sink.written())
	t.Logf("%d batches acknowledged, %d alert rows, %d distinct transitions, %d expected", sink.acked.Load(), len(sink.written()), len(got), len(all))
	compare(t, "pipeline output across restart and rebalances", got, all, or.want)
}

// newStore is one instance's Kafka state store, as `salespulse run`
// builds it: the instances share the state topic, each claims the
// partitions it is assigned (fencing the previous owner), and reads the
// group's committed offsets, refreshed every 100ms.
func newStore(t *testing.T, c interface{ ListenAddrs() []string }, group string) *kafkaio.StateStore {
	t.Helper()
	st, err := kafkaio.NewStateStore(kafkaio.StateConfig{Topic: "alerts.state", CommitPollInterval: 100 * time.Millisecond},
		group, []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, prometheus.NewRegistry(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Ensure(context.Background(), partitions); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}

func distinct(as []schemas.Alert) map[string]int {
	m := map[string]int{}
	for _, a := range as {
		m[a.ID+" "+a.State.String()]++
	}
	return m
}

// settle waits until the sink acknowledged something and then nothing
// more for a while: the instances caught up.
func settle(t *testing.T, sink *countingSink) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	last, since := int64(-1), time.Now()
	for time.Now().Before(deadline) {
		n := sink.acked.Load()
		if n != last {
			last, since = n, time.Now()
		} else if n > 0 && time.Since(since) > 700*time.Millisecond {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the pipeline did not settle (%d batches acknowledged)", last)
}

// startInstance runs one instance (source → anomaly stage → sink) in the
// group "salespulse"; stop shuts it down gracefully (drain, commit, leave
// the group), as a deploy does.
func startInstance(t *testing.T, c interface{ ListenAddrs() []string }, det *anomaly.Detector, sink pipeline.Sink) (stop func()) {
	t.Helper()
	src, err := kafka.NewSource(kafka.Config{
		Brokers: c.ListenAddrs(), Topics: map[string]string{inTopic: "canonical"}, BatchLinger: 5 * time.Millisecond,
		CommitInterval: 100 * time.Millisecond,
	}, map[string]kafka.Decoder{inTopic: canonical.NewDecoder(nil)}, prometheus.NewRegistry(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	p, err := pipeline.New(pipeline.Config{Workers: 2}, src, func(int) []pipeline.Stage {
		return []pipeline.Stage{det.NewStage()}
	}, sink, prometheus.NewRegistry(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("pipeline: %v", err)
		}
		cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer ccancel()
		if err := src.Close(cctx); err != nil {
			t.Errorf("close source: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}
