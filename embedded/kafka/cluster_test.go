package kafka

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func start(t *testing.T, cfg Config) *Cluster {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	c, err := Start(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func client(t *testing.T, c *Cluster, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.Addrs()...), kgo.ProducerBatchMaxBytes(8 << 20)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// embeddedRequired reports whether missing tools must fail the test (CI).
func embeddedRequired() bool {
	v := strings.ToLower(os.Getenv("SALESPULSE_EMBEDDED_TESTS"))
	return v == "1" || v == "true"
}

func consumeN(t *testing.T, cl *kgo.Client, n int) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", len(out), n, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		out = append(out, fs.Records()...)
	}
	return out
}

func TestTopicsCreatedWithPartitions(t *testing.T) {
	c := start(t, Config{Topics: []Topic{{Name: "sales.canonical"}, {Name: "sales.dlq", Partitions: 3}}})
	adm := kadm.NewClient(client(t, c))
	td, err := adm.ListTopics(context.Background(), "sales.canonical", "sales.dlq")
	if err != nil {
		t.Fatal(err)
	}
	if got := len(td["sales.canonical"].Partitions); got != 12 {
		t.Errorf("sales.canonical has %d partitions, want the default 12", got)
	}
	if got := len(td["sales.dlq"].Partitions); got != 3 {
		t.Errorf("sales.dlq has %d partitions, want 3", got)
	}
}

func TestKcatProducesFranzConsumes(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		if embeddedRequired() {
			t.Fatal("kcat not installed (apt-get install -y kcat) and SALESPULSE_EMBEDDED_TESTS is set")
		}
		t.Skip("kcat not installed")
	}
	c := start(t, Config{Topics: []Topic{{Name: "in", Partitions: 1}}})

	big := bytes.Repeat([]byte("x"), 2<<20) // a 2 MB record must get through
	input := "k1:hello\nk2:world\n"
	run := func(stdin []byte, args ...string) {
		t.Helper()
		cmd := exec.Command(kcat, append([]string{"-b", c.Addrs()[0], "-P", "-t", "in"}, args...)...)
		cmd.Stdin = bytes.NewReader(stdin)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kcat %v: %v: %s", args, err, out)
		}
	}
	run([]byte(input), "-K:")
	run(big, "-X", "message.max.bytes=8000000", "-D", "\x01") // one record: no delimiter inside

	cl := client(t, c, kgo.ConsumeTopics("in"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	recs := consumeN(t, cl, 3)
	if string(recs[0].Key) != "k1" || string(recs[0].Value) != "hello" || string(recs[1].Key) != "k2" || string(recs[1].Value) != "world" {
		t.Errorf("got %q=%q, %q=%q", recs[0].Key, recs[0].Value, recs[1].Key, recs[1].Value)
	}
	if len(recs[2].Value) != len(big) {
		t.Errorf("big record has %d bytes, want %d", len(recs[2].Value), len(big))
	}
}

func TestRestartKeepsRecordsAndOffsets(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Addr: "127.0.0.1:0", DataDir: dir, Topics: []Topic{{Name: "t", Partitions: 2}}}
	c, err := Start(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	prod := client(t, c, kgo.DefaultProduceTopic("t"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for k := range 10 {
		if err := prod.ProduceSync(ctx, &kgo.Record{Partition: int32(k % 2), Value: fmt.Appendf(nil, "v%d", k)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	prod.Close()
	adm := kadm.NewClient(client(t, c))
	offs := kadm.Offsets{}
	offs.AddOffset("t", 0, 3, -1)
	offs.AddOffset("t", 1, 4, -1)
	if err := adm.CommitAllOffsets(ctx, "g", offs); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	c2, err := Start(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c2.Close() })
	adm2 := kadm.NewClient(client(t, c2))
	got, err := adm2.FetchOffsets(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := got.Lookup("t", 0); o.At != 3 {
		t.Errorf("t/0 committed %d after restart, want 3", o.At)
	}
	if o, _ := got.Lookup("t", 1); o.At != 4 {
		t.Errorf("t/1 committed %d after restart, want 4", o.At)
	}
	ends, err := adm2.ListEndOffsets(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset != 5 {
			t.Errorf("t/%d ends at %d after restart, want 5", o.Partition, o.Offset)
		}
	})
	// The group resumes from the committed offsets: 2+1 records remain.
	cl := client(t, c2, kgo.ConsumeTopics("t"), kgo.ConsumerGroup("g"), kgo.DisableAutoCommit())
	recs := consumeN(t, cl, 3)
	for _, r := range recs {
		if r.Partition == 0 && r.Offset < 3 || r.Partition == 1 && r.Offset < 4 {
			t.Errorf("redelivered committed record %d/%d", r.Partition, r.Offset)
		}
	}
}

func TestValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg  Config
		want error
	}{
		"an address without a port is rejected": {Config{Addr: "localhost"}, ErrBadAddr},
		"a topic needs a name":                  {Config{Topics: []Topic{{}}}, ErrBadTopic},
		"negative partitions are rejected":      {Config{Topics: []Topic{{Name: "a", Partitions: -1}}}, ErrBadNumber},
		"a tiny message limit is rejected":      {Config{MaxMessageBytes: 100}, ErrSmallMessage},
		"defaults are valid":                    {Config{}, nil},
	} {
		t.Run(name, func(t *testing.T) {
			tc.cfg.SetDefaults()
			if err := tc.cfg.Validate(); !errors.Is(err, tc.want) {
				t.Errorf("Validate() = %v, want %v", err, tc.want)
			}
		})
	}
}
