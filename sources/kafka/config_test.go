package kafka

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

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
	if _, err := c.Opts(); err != nil {
		t.Fatal(err)
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
