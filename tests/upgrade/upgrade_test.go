// Package upgrade_test checks that a deployment whose window and detector
// state lives in the two changelog topics of earlier releases
// (salespulse.state-changelog and salespulse.anomaly-changelog, each with
// its own key format) upgrades to the one state store without losing an
// open lead, quote, approval or alert state: the upgraded stages go on
// exactly as an uninterrupted run would, batch by batch.
//
// It needs only kfake (in process).
package upgrade_test

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/internal/kafkaio"
	"github.com/salespulse/salespulse/pipeline/anomaly"
	"github.com/salespulse/salespulse/pipeline/anomaly/matrix"
	"github.com/salespulse/salespulse/pipeline/state"
	"github.com/salespulse/salespulse/pipeline/window"
	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/gen"
)

const (
	topic      = "sales.canonical"
	partitions = 4
	batchSize  = 40
	// The releases before the state store wrote these topics.
	legacyWindow  = "salespulse.state-changelog"
	legacyAnomaly = "salespulse.anomaly-changelog"
)

// input is the generator's stream cut into per-partition batches, as the
// Kafka source would cut it.
type input struct {
	idx     *schemas.Index
	matrix  *matrix.Matrix
	batches [][][]schemas.Interaction // partition -> batch -> events
}

func newInput(t *testing.T) *input {
	t.Helper()
	cfg := gen.DefaultConfig()
	cfg.Seed, cfg.Days = 11, 4
	cfg.Response.Max = time.Hour
	g, err := gen.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m, err := matrix.Load("../alerts/testdata/matrix.yml")
	if err != nil {
		t.Fatal(err)
	}
	per := make([][]schemas.Interaction, partitions)
	for {
		var i schemas.Interaction
		key, ok := g.Next(&i)
		if !ok {
			break
		}
		h := fnv.New32a()
		h.Write(key)
		p := h.Sum32() % partitions
		per[p] = append(per[p], i)
	}
	in := &input{idx: schemas.NewIndex(g.Org()), matrix: m, batches: make([][][]schemas.Interaction, partitions)}
	for p, evs := range per {
		for len(evs) > 0 {
			n := min(batchSize, len(evs))
			in.batches[p] = append(in.batches[p], evs[:n])
			evs = evs[n:]
		}
	}
	return in
}

// stages are one instance's window and detector stages on store.
type stages struct {
	win *window.Stage
	det *anomaly.Stage
}

func (in *input) stages(t *testing.T, store state.Store) stages {
	t.Helper()
	w, err := window.New(window.Config{}, window.Deps{Org: in.idx, State: store}, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := anomaly.New(anomaly.Config{SLA: anomaly.SLAConfig{Default: 16 * time.Hour}}, in.matrix, in.idx, anomaly.Deps{State: store}, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return stages{w.NewStage(), d.NewStage()}
}

// run processes batches [from, to) of every partition as the pipeline
// does (window, then detectors) and returns what each batch emitted:
// facts, late events and alerts, as JSON (it follows pointers).
func (in *input) run(t *testing.T, s stages, from, to func(p int) int) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	for p := range partitions {
		off := int64(0)
		for k, evs := range in.batches[p] {
			first := off
			off += int64(len(evs))
			if k < from(p) || k >= to(p) {
				continue
			}
			b := schemas.NewBatch(schemas.Origin{Topic: topic, Partition: int32(p), FirstOffset: first, LastOffset: off - 1}, nil)
			b.Interactions = slices.Clone(evs)
			if err := s.win.Process(ctx, b); err != nil {
				t.Fatalf("window %s: %v", b.Origin, err)
			}
			if err := s.det.Process(ctx, b); err != nil {
				t.Fatalf("anomaly %s: %v", b.Origin, err)
			}
			v, err := json.Marshal(struct {
				Aggregates []schemas.AggregateRows
				Late       []schemas.Interaction
				Alerts     []schemas.Alert
			}{b.Aggregates, b.Late, b.Alerts})
			if err != nil {
				t.Fatal(err)
			}
			out[b.Origin.String()] = string(v)
		}
	}
	return out
}

// writeLegacy writes what mem holds, in the key formats of the two old
// changelog topics: window "topic 0x00 kind id", detectors
// "topic/partition/kind/id"; values were never changed.
func writeLegacy(t *testing.T, cl *kgo.Client, mem *state.Memory) (leads, quotes, approvals, episodes int) {
	t.Helper()
	ctx := context.Background()
	adm := kadm.NewClient(cl)
	compact := "compact"
	for _, tp := range []string{legacyWindow, legacyAnomaly} {
		if _, err := adm.CreateTopic(ctx, partitions, 1, map[string]*string{"cleanup.policy": &compact}, tp); err != nil {
			t.Fatal(err)
		}
	}
	var recs []*kgo.Record
	for p := range int32(partitions) {
		w, _ := mem.Load(ctx, state.Window, topic, p)
		for k, v := range w {
			recs = append(recs, &kgo.Record{Topic: legacyWindow, Partition: p, Key: []byte(topic + "\x00" + k), Value: v})
		}
		a, _ := mem.Load(ctx, state.Anomaly, topic, p)
		for k, v := range a {
			switch k[0] {
			case 'L':
				leads++
			case 'Q':
				quotes++
			case 'A':
				approvals++
			case 'E':
				episodes++
			}
			recs = append(recs, &kgo.Record{Topic: legacyAnomaly, Partition: p, Key: fmt.Appendf(nil, "%s/%d/%c/%s", topic, p, k[0], k[1:]), Value: v})
		}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return leads, quotes, approvals, episodes
}

func TestUpgradeFromTheTwoChangelogTopics(t *testing.T) {
	in := newInput(t)
	half := func(p int) int { return len(in.batches[p]) / 2 }
	start := func(int) int { return 0 }
	end := func(p int) int { return len(in.batches[p]) }

	// The uninterrupted run: what every batch must emit.
	want := in.run(t, in.stages(t, state.NewMemory()), start, end)

	// The old release ran the first half; its state is in the old topics.
	old := state.NewMemory()
	in.run(t, in.stages(t, old), start, half)
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	leads, quotes, approvals, episodes := writeLegacy(t, cl, old)
	t.Logf("old topics hold %d open leads, %d quotes, %d approvals, %d alert episodes", leads, quotes, approvals, episodes)
	if leads == 0 || quotes == 0 || approvals == 0 {
		t.Fatalf("the first half left no open lead, quote or approval (%d, %d, %d): the test would prove nothing", leads, quotes, approvals)
	}

	upgraded := func(stateTopic string, legacy []string) map[string]string {
		cfg := kafkaio.StateConfig{Topic: stateTopic, LegacyTopics: legacy}
		st, err := kafkaio.NewStateStore(cfg, "salespulse", []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, prometheus.NewRegistry(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if err := st.Ensure(context.Background(), partitions); err != nil {
			t.Fatal(err)
		}
		return in.run(t, in.stages(t, st), half, end)
	}
	got := upgraded("salespulse.state", []string{legacyWindow, legacyAnomaly})
	n := 0
	for origin, g := range got {
		if g != want[origin] {
			t.Errorf("batch %s after the upgrade:\n got %s\nwant %s", origin, g, want[origin])
			if n++; n > 3 {
				t.FailNow()
			}
		}
	}
	t.Logf("%d batches after the upgrade emitted exactly what the uninterrupted run did", len(got))

	// Without the migration the same batches differ: the check above is
	// sensitive to the state carried over.
	fresh := upgraded("salespulse.state.fresh", []string{"", ""})
	diff := 0
	for origin, g := range fresh {
		if g != want[origin] {
			diff++
		}
	}
	if diff == 0 {
		t.Fatal("starting without the old state changed nothing: the test cannot see a lost state")
	}
	t.Logf("without migrating, %d of %d batches would have differed", diff, len(fresh))
}
