package clickhouse

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
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
		"minimal.good.yml":     nil,
		"full.good.yml":        nil,
		"http.good.yml":        nil,
		"protocol.bad.yml":     ErrProtocol,
		"database.bad.yml":     ErrIdentifier,
		"cluster.bad.yml":      ErrClusterName,
		"tls.bad.yml":          ErrTLSKeyPair,
		"backoff.bad.yml":      ErrBackoffRange,
		"timeout.bad.yml":      ErrNegative,
		"compression.bad.yml":  ErrCompression,
		"address.bad.yml":      ErrNoAddress,
		"group.bad.yml":        ErrGroupMaxRows,
		"derivedgroup.bad.yml": ErrDerivedGroupMaxRows,
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
		c := loadConfig(t, p)
		c.SetDefaults()
		err := c.Validate()
		if !errors.Is(err, wantErr) || (err == nil) != (wantErr == nil) {
			t.Errorf("%s: Validate() = %v, want %v", name, err, wantErr)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "clickhouse.") {
			t.Errorf("%s: error %q lacks the field path", name, err)
		}
	}
}

// defaulted returns c after SetDefaults.
func defaulted(c Config) Config {
	c.SetDefaults()
	return c
}

func TestConfigDefaults(t *testing.T) {
	c := defaulted(Config{})
	if c.Protocol != "native" || len(c.Addresses) != 1 || c.Addresses[0] != "localhost:9000" ||
		c.Database != "salespulse" || c.Username != "default" || c.DialTimeout != DefaultDialTimeout ||
		c.ReadTimeout != DefaultReadTimeout || c.MaxOpenConns != DefaultMaxOpenConns || c.Compression != CompressionAuto ||
		c.RetryBackoffMin != DefaultRetryBackoffMin || c.RetryBackoffMax != DefaultRetryBackoffMax ||
		c.Migrate == nil || !*c.Migrate || c.Clock == nil ||
		c.GroupMaxRows != DefaultGroupMaxRows || c.DerivedGroupMaxRows != DefaultDerivedGroupMaxRows {
		t.Fatalf("defaults: %+v", c)
	}
	if h := defaulted(Config{Protocol: "http"}); h.Addresses[0] != "localhost:8123" {
		t.Fatalf("http default address %v", h.Addresses)
	}
	// A min above the default max moves the default max up rather than failing.
	if c := defaulted(Config{RetryBackoffMin: time.Minute}); c.RetryBackoffMax != time.Minute {
		t.Fatalf("max %v", c.RetryBackoffMax)
	}
	f := defaulted(loadConfig(t, "testdata/full.good.yml"))
	if *f.Migrate || f.Password != "from-yaml" || f.Cluster != "sales-cluster.eu" || f.ReadTimeout != 2*time.Minute || f.DerivedGroupLinger != 3*time.Second ||
		f.DerivedGroupMaxRows != 250000 {
		t.Fatalf("full: %+v", f)
	}
	// Defaults are defaults: a zero Config is not valid until SetDefaults.
	if err := (&Config{}).Validate(); !errors.Is(err, ErrNoAddress) || !errors.Is(err, ErrProtocol) {
		t.Fatalf("Validate before SetDefaults: %v", err)
	}
	if err := (&c).Validate(); err != nil {
		t.Fatalf("Validate after SetDefaults: %v", err)
	}
}

// $SALESPULSE_CLICKHOUSE_PASSWORD, when set, replaces the file's password
// in the connection options (and nowhere else: SetDefaults writes only
// defaults).
func TestConfigEnvPassword(t *testing.T) {
	c := defaulted(loadConfig(t, "testdata/http.good.yml"))
	c.Password = "from-yaml"
	for env, want := range map[string]string{"": "from-yaml", "from-env": "from-env"} {
		t.Setenv(EnvPassword, env)
		o, err := c.options()
		if err != nil {
			t.Fatal(err)
		}
		if o.Auth.Password != want {
			t.Fatalf("$%s=%q: password %q, want %q", EnvPassword, env, o.Auth.Password, want)
		}
	}
	if c.Password != "from-yaml" {
		t.Fatalf("options changed the config: %q", c.Password)
	}
}

// "auto" sends uncompressed to this host and lz4 elsewhere: on loopback,
// compressing costs both ends CPU and saves no network (clickhouse_sinker
// sends uncompressed over http too).
func TestCompressionAuto(t *testing.T) {
	for _, tc := range []struct {
		addrs []string
		want  clickhouse.CompressionMethod
	}{
		{[]string{"127.0.0.1:8123"}, clickhouse.CompressionNone},
		{[]string{"localhost:9000", "127.0.0.2:9000"}, clickhouse.CompressionNone},
		{[]string{"[::1]:9000"}, clickhouse.CompressionNone},
		{[]string{"LOCALHOST:9000"}, clickhouse.CompressionNone},
		{[]string{"[::ffff:127.0.0.1]:8123"}, clickhouse.CompressionNone},
		{[]string{"127.0.0.1:9000", "ch-2.internal:9000"}, clickhouse.CompressionLZ4},
		{[]string{"10.0.0.5:9000"}, clickhouse.CompressionLZ4},
		{[]string{"localhost.example.com:9000"}, clickhouse.CompressionLZ4},
	} {
		c := defaulted(Config{Addresses: tc.addrs})
		if err := c.Validate(); err != nil {
			t.Fatalf("%v: %v", tc.addrs, err)
		}
		o, err := c.options()
		if err != nil {
			t.Fatal(err)
		}
		got := clickhouse.CompressionNone
		if o.Compression != nil {
			got = o.Compression.Method
		}
		if got != tc.want {
			t.Errorf("%v: compression %v, want %v", tc.addrs, got, tc.want)
		}
	}
	// Named explicitly, a method is used wherever the server is.
	c := defaulted(Config{Addresses: []string{"127.0.0.1:9000"}, Compression: "lz4"})
	if o, err := c.options(); err != nil || o.Compression == nil || o.Compression.Method != clickhouse.CompressionLZ4 {
		t.Fatalf("explicit lz4 on loopback: %+v, %v", o, err)
	}
}

func TestConfigOptions(t *testing.T) {
	o, err := defaulted(loadConfig(t, "testdata/http.good.yml")).options()
	if err != nil {
		t.Fatal(err)
	}
	if o.Protocol.String() != "http" || o.Compression == nil || o.TLS != nil || o.Auth.Database != "" {
		t.Fatalf("options: %+v", o)
	}
	// The full file names TLS files that do not exist here: options reads them.
	if _, err := defaulted(loadConfig(t, "testdata/full.good.yml")).options(); err == nil || !strings.Contains(err.Error(), "ca_file") {
		t.Fatalf("missing CA file: %v", err)
	}
}
