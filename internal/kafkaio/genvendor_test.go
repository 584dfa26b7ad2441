package kafkaio

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources"
	"github.com/salespulse/salespulse/sources/gen"
	"github.com/salespulse/salespulse/sources/zoom"
)

// vendorTopics maps every vendor to its default topic.
func vendorTopics() map[string]string {
	m := map[string]string{}
	for _, v := range sources.Vendors() {
		m[v.Name] = v.DefaultTopic
	}
	return m
}

func oneDay(seed uint64) gen.Config {
	cfg := gen.DefaultConfig()
	cfg.Seed, cfg.Days = seed, 1
	return cfg
}

// TestProduceVendor produces two days to kfake and reads every vendor
// topic back: all records arrive, each on its vendor's topic with the
// canonical key, and the counts match a local encoding of the same seed.
func TestProduceVendor(t *testing.T) {
	topics := vendorTopics()
	topics[zoom.Name] = "custom.zoom"
	var names []string
	for _, tp := range topics {
		names = append(names, tp)
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, names...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)

	cfg := oneDay(5)
	cfg.Teams = 2
	g, err := gen.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var progress []Progress
	n, err := ProduceVendor(context.Background(), cl, map[string]string{zoom.Name: "custom.zoom"}, g, ProduceOptions{
		ProgressEvery: 500, Progress: func(p Progress) { progress = append(progress, p) },
	})
	if err != nil {
		t.Fatal(err)
	}

	// The same seed encoded locally: per topic counts.
	g2, _ := gen.New(cfg)
	enc := gen.NewVendorEncoder(g2, false)
	want := map[string]int{}
	var in schemas.Interaction
	total := 0
	for {
		key, ok := g2.Next(&in)
		if !ok {
			break
		}
		for _, r := range enc.Encode(&in, key) {
			want[topics[r.Vendor]]++
			total++
		}
	}
	if n != int64(total) {
		t.Fatalf("ProduceVendor acked %d records, want %d", n, total)
	}
	if last := progress[len(progress)-1]; last.Produced != n || last.Acked != n {
		t.Fatalf("final progress %+v, want %d produced and acked", last, n)
	}

	rd, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(names...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := map[string]int{}
	for seen := 0; seen < total; {
		fs := rd.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume after %d of %d: %v", seen, total, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got[r.Topic]++
			seen++
			if len(r.Key) == 0 {
				t.Errorf("record without key on %s", r.Topic)
			}
		})
	}
	for tp, w := range want {
		if got[tp] != w {
			t.Errorf("topic %s: %d records, want %d", tp, got[tp], w)
		}
	}
	if _, err := ProduceVendor(context.Background(), cl, map[string]string{"myspace": "x"}, g, ProduceOptions{}); err == nil {
		t.Error("an unknown vendor was accepted")
	}
}

// TestProduceVendorDeliveryOrder: with delivery skew and webhook retries
// the records reach each topic in the stream's delivery order (one
// partition per topic, so the order is the topic's), held-back records
// included when opts.Limit stops the run.
func TestProduceVendorDeliveryOrder(t *testing.T) {
	topics := vendorTopics()
	var names []string
	for _, tp := range topics {
		names = append(names, tp)
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, names...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	cfg := oneDay(9)
	cfg.Teams, cfg.DeliverySkew, cfg.WebhookRetries = 2, 2*time.Minute, 0.05
	const limit = 1500
	g, err := gen.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n, err := ProduceVendor(context.Background(), cl, nil, g, ProduceOptions{Limit: limit})
	if err != nil {
		t.Fatal(err)
	}

	g2, _ := gen.New(cfg)
	st := gen.NewVendorStream(g2, false)
	want := map[string][]string{}
	add := func(ds []gen.Delivery) {
		for _, d := range ds {
			want[topics[d.Vendor]] = append(want[topics[d.Vendor]], string(d.Value))
		}
	}
	var in schemas.Interaction
	total, retries := 0, 0
	for k := 0; k < limit; k++ {
		key, ok := g2.Next(&in)
		if !ok {
			t.Fatal("the day ended before the limit")
		}
		add(st.Next(&in, key))
	}
	add(st.Drain())
	for _, v := range want {
		total += len(v)
	}
	if n != int64(total) {
		t.Fatalf("ProduceVendor acked %d records, the stream delivers %d", n, total)
	}

	rd, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(names...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := map[string][]string{}
	for seen := 0; seen < total; {
		fs := rd.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume after %d of %d: %v", seen, total, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got[r.Topic] = append(got[r.Topic], string(r.Value))
			seen++
		})
	}
	for tp, w := range want {
		g := got[tp]
		if len(g) != len(w) {
			t.Fatalf("topic %s: %d records, want %d", tp, len(g), len(w))
		}
		seen := map[string]bool{}
		for k := range w {
			if g[k] != w[k] {
				t.Fatalf("topic %s: record %d differs from the delivery order", tp, k)
			}
			if seen[w[k]] {
				retries++
			}
			seen[w[k]] = true
		}
	}
	if retries == 0 {
		t.Error("no webhook was delivered twice")
	}
}

// BenchmarkProduceVendor measures generate + vendor encode + produce into
// an in-process kfake broker (snappy, the client's default).
//
//	go test ./internal/kafkaio -run '^$' -bench ProduceVendor -benchtime=3x -count=3
func BenchmarkProduceVendor(b *testing.B) {
	topics := vendorTopics()
	var names []string
	for _, tp := range topics {
		names = append(names, tp)
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(6, names...))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	cfg := gen.DefaultConfig()
	cfg.Days = 0
	g, err := gen.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	const perOp = 100000
	b.ReportAllocs()
	start := time.Now()
	var records int64
	for b.Loop() {
		n, err := ProduceVendor(context.Background(), cl, nil, g, ProduceOptions{Limit: perOp})
		if err != nil {
			b.Fatal(err)
		}
		records += n
	}
	el := time.Since(start).Seconds()
	b.ReportMetric(float64(b.N*perOp)/el, "interactions/s")
	b.ReportMetric(float64(records)/el, "records/s")
}
