package clickhouse

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func loadConfig(t *testing.T, path string) Config {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var c Config
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return c
}

func TestConfigFiles(t *testing.T) {
	want := map[string]error{
		"minimal.good.yml":    nil,
		"full.good.yml":       nil,
		"http.good.yml":       nil,
		"protocol.bad.yml":    ErrProtocol,
		"database.bad.yml":    ErrIdentifier,
		"cluster.bad.yml":     ErrClusterName,
		"tls.bad.yml":         ErrTLSKeyPair,
		"backoff.bad.yml":     ErrBackoffRange,
		"timeout.bad.yml":     ErrNegative,
		"compression.bad.yml": ErrCompression,
		"address.bad.yml":     ErrNoAddress,
	}
	files, _ := filepath.Glob("testdata/*.yml")
	if len(files) != len(want) {
		t.Fatalf("testdata has %d files, table has %d", len(files), len(want))
	}
	for _, p := range files {
		name := filepath.Base(p)
		wantErr, ok := want[name]
		if !ok {
			t.Errorf("%s: not in the table", name)
			continue
		}
		err := loadConfig(t, p).Validate()
		if !errors.Is(err, wantErr) || (err == nil) != (wantErr == nil) {
			t.Errorf("%s: Validate() = %v, want %v", name, err, wantErr)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "clickhouse.") {
			t.Errorf("%s: error %q lacks the field path", name, err)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Setenv(EnvPassword, "")
	c := Config{}.withDefaults()
	if c.Protocol != "native" || len(c.Addresses) != 1 || c.Addresses[0] != "localhost:9000" ||
		c.Database != "salespulse" || c.Username != "default" || c.DialTimeout != DefaultDialTimeout ||
		c.ReadTimeout != DefaultReadTimeout || c.MaxOpenConns != DefaultMaxOpenConns || c.Compression != "lz4" ||
		c.RetryBackoffMin != DefaultRetryBackoffMin || c.RetryBackoffMax != DefaultRetryBackoffMax ||
		c.Migrate == nil || !*c.Migrate || c.Clock == nil {
		t.Fatalf("defaults: %+v", c)
	}
	if h := (Config{Protocol: "http"}).withDefaults(); h.Addresses[0] != "localhost:8123" {
		t.Fatalf("http default address %v", h.Addresses)
	}
	// A min above the default max moves the default max up rather than failing.
	if c := (Config{RetryBackoffMin: time.Minute}).withDefaults(); c.RetryBackoffMax != time.Minute {
		t.Fatalf("max %v", c.RetryBackoffMax)
	}
	f := loadConfig(t, "testdata/full.good.yml").withDefaults()
	if *f.Migrate || f.Password != "from-yaml" || f.Cluster != "sales-cluster.eu" || f.ReadTimeout != 2*time.Minute {
		t.Fatalf("full: %+v", f)
	}
	t.Setenv(EnvPassword, "from-env")
	if f := loadConfig(t, "testdata/full.good.yml").withDefaults(); f.Password != "from-env" {
		t.Fatalf("env password not applied: %q", f.Password)
	}
}

func TestConfigOptions(t *testing.T) {
	o, err := loadConfig(t, "testdata/http.good.yml").withDefaults().options()
	if err != nil {
		t.Fatal(err)
	}
	if o.Protocol.String() != "http" || o.Compression == nil || o.TLS != nil || o.Auth.Database != "" {
		t.Fatalf("options: %+v", o)
	}
	// The full file names TLS files that do not exist here: options reads them.
	if _, err := loadConfig(t, "testdata/full.good.yml").withDefaults().options(); err == nil || !strings.Contains(err.Error(), "ca_file") {
		t.Fatalf("missing CA file: %v", err)
	}
}
