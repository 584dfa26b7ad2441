package kafka

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"gopkg.in/yaml.v3"
)

func TestConfigFiles(t *testing.T) {
	want := map[string]error{
		"full.good.yml":     nil,
		"dlq-loop.bad.yml":  ErrDeadLetterLoop,
		"mechanism.bad.yml": ErrMechanism,
		"start.bad.yml":     ErrStartOffset,
		"nobrokers.bad.yml": ErrNoBrokers,
		"inflight.bad.yml":  ErrOutOfRange,
		"certpair.bad.yml":  ErrCertKeyPair,
		"workers.bad.yml":   ErrNotPositive,
	}
	files, _ := filepath.Glob("testdata/*.yml")
	if len(files) != len(want) {
		t.Fatalf("%d files in testdata, %d expectations", len(files), len(want))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var c Config
			dec := yaml.NewDecoder(strings.NewReader(string(raw)))
			dec.KnownFields(true)
			if err := dec.Decode(&c); err != nil {
				t.Fatal(err)
			}
			c.SetDefaults()
			if err := c.Validate(); !errors.Is(err, want[filepath.Base(f)]) {
				t.Fatalf("Validate() = %v, want %v", err, want[filepath.Base(f)])
			}
		})
	}
}

func TestConfigDefaultsAndOpts(t *testing.T) {
	var c Config
	if err := yaml.Unmarshal([]byte("brokers: [k:9092]\nbatch_linger: 250ms\n"), &c); err != nil {
		t.Fatal(err)
	}
	c.SetDefaults()
	if c.Group != "salespulse" || c.Topics["sales.canonical"] != "canonical" || c.DeadLetterTopic != "sales.dlq" ||
		c.MaxRecordBytes != 1<<20 || c.BatchMaxRows != 20000 || c.BatchMaxBytes != 16<<20 || c.BatchLinger != 250*time.Millisecond ||
		c.StartOffset != "earliest" || c.DecodeWorkers != runtime.GOMAXPROCS(0) {
		t.Fatalf("defaults not applied: %+v", c)
	}
	// The fetch wait is the Java consumer's fetch.max.wait.ms default, not
	// franz-go's 5s: a fetch of only quiet partitions, sent while the busy
	// ones are paused, holds their resume back this long.
	opts, err := c.Opts()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	got := cl.OptValue(kgo.FetchMaxWait)
	cl.Close()
	if c.FetchMaxWait != 500*time.Millisecond || got != 500*time.Millisecond {
		t.Fatalf("fetch_max_wait %v, client's FetchMaxWait %v; want 500ms both", c.FetchMaxWait, got)
	}
	for v, want := range map[time.Duration]error{-time.Second: ErrNotPositive, 2 * time.Minute: ErrOutOfRange, time.Minute: nil} {
		bad := c
		bad.Topics = map[string]string{"sales.canonical": "canonical"}
		bad.FetchMaxWait = v
		if err := bad.Validate(); !errors.Is(err, want) {
			t.Errorf("fetch_max_wait %v: Validate() = %v, want %v", v, err, want)
		}
	}
	c.SASL = SASLConfig{Mechanism: "PLAIN", Username: "u", PasswordEnv: "SALESPULSE_TEST_UNSET_PASSWORD"}
	if _, err := c.Opts(); !errors.Is(err, ErrCredentials) {
		t.Fatalf("Opts() with an empty password variable = %v, want ErrCredentials", err)
	}
	t.Setenv("SALESPULSE_TEST_UNSET_PASSWORD", "secret")
	if _, err := c.Opts(); err != nil {
		t.Fatal(err)
	}
}
