package kafkaio

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestGrowPartitionsWidensANarrowChangelog(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "changelog"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	parts := func() int {
		md, err := kadm.NewClient(cl).ListTopics(ctx, "changelog")
		if err != nil {
			t.Fatal(err)
		}
		return len(md["changelog"].Partitions)
	}
	if err := GrowPartitions(ctx, cl, "changelog", 12); err != nil {
		t.Fatalf("grow: %v", err)
	}
	if n := parts(); n != 12 {
		t.Fatalf("partitions after growing = %d, want 12", n)
	}
	// Already wide enough: a narrower request never shrinks or fails.
	if err := GrowPartitions(ctx, cl, "changelog", 4); err != nil {
		t.Fatalf("grow to fewer: %v", err)
	}
	if n := parts(); n != 12 {
		t.Fatalf("partitions = %d, want 12 still", n)
	}
	// A topic that does not exist is left to EnsureCompactedTopic.
	if err := GrowPartitions(ctx, cl, "missing", 4); err != nil {
		t.Fatalf("missing topic: %v", err)
	}
}
