package anomaly

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/schemas"
)

const waitChangelogTopic = "anomaly-changelog"

// newBareKafka returns a kfake cluster without the changelog topic, a
// changelog client as the app builds it, and an admin client.
func newBareKafka(t *testing.T) (*kgo.Client, *kadm.Client) {
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

// waitDetector is a detector on cl's changelog (never created by it) with
// nothing committed.
func waitDetector(t *testing.T, cfg Config, cl *kgo.Client) *Detector {
	t.Helper()
	cfg.ChangelogTopic = waitChangelogTopic
	deps := Deps{
		Changelog: cl,
		Committed: func(context.Context, string, int32) (int64, error) { return -1, nil },
		Clock:     func() time.Time { return t0 },
	}
	d, err := New(cfg, nil, testOrg(), deps, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func leadBatch(part int32, off int64, leadID string, at time.Time) *schemas.Batch {
	b := schemas.NewBatch(schemas.Origin{Topic: "in", Partition: part, FirstOffset: off, LastOffset: off}, nil)
	b.Interactions = append(b.Interactions, schemas.Interaction{
		EventID: "e-" + leadID, Type: schemas.TypeLeadCreated, OccurredAt: at, LeadID: leadID,
		RepID: "ae-1", TeamID: "team-01", Channel: schemas.ChannelEmail,
	})
	return b
}

// TestRestoreWaitsForChangelog: a stage started before its changelog topic
// is usable waits for it (within restore_timeout) instead of failing the
// first batch, and fails with ErrChangelogUnavailable only at the deadline.
func TestRestoreWaitsForChangelog(t *testing.T) {
	create := func(adm *kadm.Client, parts int32) {
		resp, err := adm.CreateTopic(context.Background(), parts, 1, nil, waitChangelogTopic)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			t.Error(err)
		}
	}

	t.Run("topic created after the first batch arrived", func(t *testing.T) {
		cl, adm := newBareKafka(t)
		s := waitDetector(t, Config{RestoreTimeout: 20 * time.Second}, cl).NewStage()
		go func() { time.Sleep(300 * time.Millisecond); create(adm, 3) }()
		start := time.Now()
		if err := s.Process(context.Background(), leadBatch(2, 0, "L1", t0)); err != nil {
			t.Fatalf("first batch: %v", err)
		}
		d := time.Since(start)
		t.Logf("first batch done after %s", d)
		if d < 300*time.Millisecond {
			t.Fatalf("first batch done in %s, before the topic existed", d)
		}
	})

	t.Run("partition added after the first batch arrived", func(t *testing.T) {
		cl, adm := newBareKafka(t)
		create(adm, 1)
		s := waitDetector(t, Config{RestoreTimeout: 20 * time.Second}, cl).NewStage()
		go func() {
			time.Sleep(300 * time.Millisecond)
			if _, err := adm.CreatePartitions(context.Background(), 2, waitChangelogTopic); err != nil {
				t.Error(err)
			}
		}()
		start := time.Now()
		if err := s.Process(context.Background(), leadBatch(2, 0, "L1", t0)); err != nil {
			t.Fatalf("first batch: %v", err)
		}
		t.Logf("first batch done after %s", time.Since(start))
		// The state went to changelog partition 2: a new stage restores it.
		s2 := waitDetector(t, Config{}, cl).NewStage()
		if err := s2.Process(context.Background(), leadBatch(2, 1, "L2", t0.Add(time.Minute))); err != nil {
			t.Fatal(err)
		}
		p := s2.parts[partKey{"in", 2}]
		if p == nil || len(p.leads) != 2 || p.leads["L1"] == nil {
			t.Fatalf("open leads after restore: %v, want L1 and L2", p.leads)
		}
	})

	t.Run("never usable: fails at restore_timeout", func(t *testing.T) {
		cl, _ := newBareKafka(t)
		s := waitDetector(t, Config{RestoreTimeout: 700 * time.Millisecond}, cl).NewStage()
		start := time.Now()
		err := s.Process(context.Background(), leadBatch(0, 0, "L1", t0))
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
		cl, _ := newBareKafka(t)
		s := waitDetector(t, Config{RestoreTimeout: time.Minute}, cl).NewStage()
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := s.Process(ctx, leadBatch(0, 0, "L1", t0))
		if d := time.Since(start); !errors.Is(err, context.DeadlineExceeded) || d > 5*time.Second {
			t.Fatalf("err %v after %s, want the caller's deadline soon", err, d)
		}
	})
}
