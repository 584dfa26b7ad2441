package statelog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

const topic = "state-changelog"

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

func create(t *testing.T, adm *kadm.Client, parts int32) {
	t.Helper()
	resp, err := adm.CreateTopic(context.Background(), parts, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Error(err)
	}
}

func produce(t *testing.T, cl *kgo.Client, partition int32, kvs ...string) {
	t.Helper()
	var recs []*kgo.Record
	for i := 0; i+1 < len(kvs); i += 2 {
		r := &kgo.Record{Topic: topic, Partition: partition, Key: []byte(kvs[i])}
		if kvs[i+1] != "" {
			r.Value = []byte(kvs[i+1])
		}
		recs = append(recs, r)
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func TestLatest(t *testing.T) {
	cl, adm := newKafka(t)
	create(t, adm, 2)
	log := slog.New(slog.DiscardHandler)

	got, err := Latest(context.Background(), cl, topic, 1, time.Minute, log)
	if err != nil || len(got) != 0 {
		t.Fatalf("empty partition: %v, %v; want nothing", got, err)
	}
	// "" is a tombstone: the key's earlier value is gone.
	produce(t, cl, 1, "a", "1", "b", "1", "a", "2", "c", "1", "b", "")
	produce(t, cl, 0, "z", "other partition")
	got, err = Latest(context.Background(), cl, topic, 1, time.Minute, log)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string][]byte{"a": []byte("2"), "c": []byte("1")}; !maps.EqualFunc(got, want, func(x, y []byte) bool { return string(x) == string(y) }) {
		t.Fatalf("latest %q, want %q", got, want)
	}

	// Read hands every record in offset order, up to the end offset, and
	// stops at the first error of each.
	var offs []int64
	if err := Read(context.Background(), cl, topic, 1, time.Minute, log, func(r *kgo.Record) error {
		offs = append(offs, r.Offset)
		return nil
	}); err != nil || fmt.Sprint(offs) != "[0 1 2 3 4]" {
		t.Fatalf("offsets %v, %v; want [0 1 2 3 4]", offs, err)
	}
	bad := errors.New("bad record")
	n := 0
	err = Read(context.Background(), cl, topic, 1, time.Minute, log, func(*kgo.Record) error {
		if n++; n == 2 {
			return bad
		}
		return nil
	})
	if !errors.Is(err, bad) || n != 2 {
		t.Fatalf("err %v after %d records, want the callback's error after 2", err, n)
	}
}

// TestWaitsForPartition: a restore that starts before its changelog
// partition is usable waits for it (within the timeout) instead of
// failing, and fails with ErrUnavailable only at the deadline.
func TestWaitsForPartition(t *testing.T) {
	log := slog.New(slog.DiscardHandler)

	// waits: a read of partition 2 started before usable made it usable
	// ends without error once it is, not before.
	waits := func(t *testing.T, cl *kgo.Client, usable func()) {
		t.Helper()
		go func() { time.Sleep(300 * time.Millisecond); usable() }()
		start := time.Now()
		if _, err := Latest(context.Background(), cl, topic, 2, 20*time.Second, log); err != nil {
			t.Fatal(err)
		}
		d := time.Since(start)
		t.Logf("read done after %s", d)
		if d < 300*time.Millisecond {
			t.Fatalf("read done in %s, before the partition was usable", d)
		}
	}
	t.Run("topic created after the read began", func(t *testing.T) {
		cl, adm := newKafka(t)
		waits(t, cl, func() { create(t, adm, 3) })
	})
	t.Run("partition added after the read began", func(t *testing.T) {
		cl, adm := newKafka(t)
		create(t, adm, 1)
		waits(t, cl, func() {
			if _, err := adm.CreatePartitions(context.Background(), 2, topic); err != nil {
				t.Error(err)
			}
		})
	})

	t.Run("never usable: fails at the timeout", func(t *testing.T) {
		cl, _ := newKafka(t)
		start := time.Now()
		_, err := Latest(context.Background(), cl, topic, 0, 700*time.Millisecond, log)
		d := time.Since(start)
		if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err %v, want ErrUnavailable and the deadline", err)
		}
		if d < 700*time.Millisecond || d > 5*time.Second {
			t.Fatalf("failed after %s, want about the 700ms timeout", d)
		}
		t.Logf("error after %s: %v", d.Round(time.Millisecond), err)
	})

	t.Run("cancelled context ends the wait", func(t *testing.T) {
		cl, _ := newKafka(t)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := Latest(ctx, cl, topic, 0, time.Minute, log)
		if d := time.Since(start); !errors.Is(err, context.DeadlineExceeded) || d > 5*time.Second {
			t.Fatalf("err %v after %s, want the caller's deadline soon", err, d)
		}
	})
}

func TestRetryable(t *testing.T) {
	for name, c := range map[string]struct {
		err  error
		want bool
	}{
		"partition not there yet": {fmt.Errorf("x: %w", errNotReady), true},
		"deadline":                {context.DeadlineExceeded, false},
		"cancelled":               {fmt.Errorf("x: %w", context.Canceled), false},
		"failed request":          {errors.New("dial tcp: connection refused"), true},
		"no leader yet":           {fmt.Errorf("end offset of t/0: %w", kerr.LeaderNotAvailable), true},
		"unknown partition":       {fmt.Errorf("end offset of t/0: %w", kerr.UnknownTopicOrPartition), true},
		"not authorized":          {fmt.Errorf("list end offsets of t: %w", kerr.TopicAuthorizationFailed), false},
	} {
		if got := retryable(c.err); got != c.want {
			t.Errorf("%s: retryable(%v) = %v, want %v", name, c.err, got, c.want)
		}
	}
}
