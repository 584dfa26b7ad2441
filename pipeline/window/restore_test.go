package window

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/schemas"
)

const testChangelog = "state-changelog"

// newKafka returns a kfake cluster without the changelog topic, a
// changelog client as the app builds it, and an admin client.
func newKafka(t *testing.T) (*kgo.Client, *kadm.Client) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl, kadm.NewClient(cl)
}

// committedAt is a CommittedFunc reporting *c for every partition.
func committedAt(c *int64) CommittedFunc {
	return func(context.Context, string, int32) (int64, error) { return *c, nil }
}

func newChangelogWindow(t *testing.T, cfg Config, cl *kgo.Client, committed CommittedFunc) *Window {
	t.Helper()
	cfg.ChangelogTopic = testChangelog
	w, err := New(cfg, Deps{Changelog: cl, Committed: committed, Clock: func() time.Time { return base }}, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func batchAt(part int32, first int64, evs ...schemas.Interaction) *schemas.Batch {
	b := schemas.NewBatch(schemas.Origin{Topic: "in", Partition: part, FirstOffset: first, LastOffset: first + int64(len(evs)) - 1}, nil)
	b.Interactions = slices.Clone(evs)
	return b
}

// TestRestoreWaitsForChangelog: a stage started before its changelog topic
// is usable waits for it (within restore_timeout) instead of failing the
// first batch, and fails with ErrChangelogUnavailable only at the deadline.
func TestRestoreWaitsForChangelog(t *testing.T) {
	ev := lead("t1", "A", schemas.TypeLeadCreated, 0, "rep1")
	create := func(adm *kadm.Client, parts int32) {
		resp, err := adm.CreateTopic(context.Background(), parts, 1, nil, testChangelog)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			t.Error(err)
		}
	}
	committed := int64(-1)

	t.Run("topic created after the first batch arrived", func(t *testing.T) {
		cl, adm := newKafka(t)
		s := newChangelogWindow(t, Config{RestoreTimeout: 20 * time.Second}, cl, committedAt(&committed)).NewStage()
		go func() { time.Sleep(300 * time.Millisecond); create(adm, 3) }()
		start := time.Now()
		if err := s.Process(context.Background(), batchAt(2, 0, ev)); err != nil {
			t.Fatalf("first batch: %v", err)
		}
		t.Logf("first batch done after %s", time.Since(start))
		if d := time.Since(start); d < 300*time.Millisecond {
			t.Fatalf("first batch done in %s, before the topic existed", d)
		}
	})

	t.Run("partition added after the first batch arrived", func(t *testing.T) {
		cl, adm := newKafka(t)
		create(adm, 1)
		s := newChangelogWindow(t, Config{RestoreTimeout: 20 * time.Second}, cl, committedAt(&committed)).NewStage()
		go func() {
			time.Sleep(300 * time.Millisecond)
			if _, err := adm.CreatePartitions(context.Background(), 2, testChangelog); err != nil {
				t.Error(err)
			}
		}()
		if err := s.Process(context.Background(), batchAt(2, 0, ev)); err != nil {
			t.Fatalf("first batch: %v", err)
		}
		// The state went to changelog partition 2: a new stage restores it.
		s2 := newChangelogWindow(t, Config{}, cl, committedAt(&committed)).NewStage()
		if err := s2.Process(context.Background(), batchAt(2, 1, lead("t2", "B", schemas.TypeLeadCreated, time.Minute, "rep1"))); err != nil {
			t.Fatal(err)
		}
		if n := len(s2.parts[partKey{"in", 2}].pr.items[famIndex(famLead)]); n != 2 {
			t.Fatalf("%d leads after restore, want 2", n)
		}
	})

	t.Run("never usable: fails at restore_timeout", func(t *testing.T) {
		cl, _ := newKafka(t)
		s := newChangelogWindow(t, Config{RestoreTimeout: 700 * time.Millisecond}, cl, committedAt(&committed)).NewStage()
		start := time.Now()
		err := s.Process(context.Background(), batchAt(0, 0, ev))
		d := time.Since(start)
		if !errors.Is(err, ErrChangelogUnavailable) {
			t.Fatalf("err %v, want ErrChangelogUnavailable", err)
		}
		if d < 700*time.Millisecond || d > 5*time.Second {
			t.Fatalf("failed after %s, want about the 700ms restore_timeout", d)
		}
		t.Logf("error after %s: %v", d.Round(time.Millisecond), err)
	})

	t.Run("cancelled context ends the wait", func(t *testing.T) {
		cl, _ := newKafka(t)
		s := newChangelogWindow(t, Config{RestoreTimeout: time.Minute}, cl, committedAt(&committed)).NewStage()
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := s.Process(ctx, batchAt(0, 0, ev))
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
			t.Fatalf("err %v after %s, want the caller's deadline soon", err, time.Since(start))
		}
	})
}
