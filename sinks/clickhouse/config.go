package clickhouse

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// EnvPassword, when set and non-empty, replaces Config.Password, so the
// secret can stay out of the YAML file (a Kubernetes Secret mounted as env).
const EnvPassword = "SALESPULSE_CLICKHOUSE_PASSWORD"

// Config configures the ClickHouse sink. Zero values get the defaults
// documented on each field, applied in one place: SetDefaults, which
// callers run before Validate (NewSink does both).
type Config struct {
	// Addresses are host:port pairs of one cluster's servers; connections
	// go to the first reachable, in order. Default ["localhost:9000"] for
	// the native protocol, ["localhost:8123"] for http.
	Addresses []string `yaml:"addresses"`
	// Protocol is "native" (default; production) or "http" (the embedded
	// chDB server, or servers behind an HTTP-only proxy).
	Protocol string `yaml:"protocol"`
	// Database holds every SalesPulse table. Default "salespulse".
	Database string `yaml:"database"`
	// Cluster, when set, makes every migration DDL run ON CLUSTER with
	// Replicated* engines (macros {shard} and {replica} must be defined on
	// the servers). Empty (default) means a single server.
	Cluster string `yaml:"cluster"`
	// Username defaults to "default".
	Username string `yaml:"username"`
	// Password is overridden by $SALESPULSE_CLICKHOUSE_PASSWORD when set.
	Password string `yaml:"password"`
	// TLS is off unless enabled or any file is given.
	TLS TLSConfig `yaml:"tls"`
	// DialTimeout bounds connecting to a server. Default 5s.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// ReadTimeout bounds waiting for a server's answer to one read. Inserts
	// of big batches into a busy server take seconds. Default 60s.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// MaxOpenConns bounds connections, hence concurrent inserts. Default 8.
	// The ingest flow's grouped inserts (at most two at once) have
	// connections of their own, of which one is kept idle.
	MaxOpenConns int `yaml:"max_open_conns"`
	// Compression of the data sent: "auto" (default), "lz4", "zstd",
	// "none"; with http also "gzip", "deflate", "br". "auto" is "none"
	// when every address is on this host (a loopback IP or "localhost":
	// the embedded engine, a server beside the pipeline), where
	// compressing costs CPU on both ends and saves no network, and "lz4"
	// otherwise.
	Compression string `yaml:"compression"`
	// RetryBackoffMin and RetryBackoffMax bound the jittered exponential
	// wait between attempts of a failed insert. Defaults 100ms and 10s.
	RetryBackoffMin time.Duration `yaml:"retry_backoff_min"`
	RetryBackoffMax time.Duration `yaml:"retry_backoff_max"`
	// GroupMaxRows: the ingest flow's raw interactions (of any partition)
	// are inserted in groups: one insert per group and month once a group
	// holds this many rows, instead of one per batch (docs/fault-tolerance.md
	// says why a replay stays exact). With leads.disabled the KBI facts
	// of the tables that allow it join the same groups, their rows counted
	// with the interactions across tables (with the lead hop on, the
	// leads flow groups them under DerivedGroupMaxRows). Keep it below
	// kafka.max_in_flight_rows: the source cuts nothing new while that
	// many rows are unacknowledged, so a larger group closes only by
	// group_linger. Default 150000
	// (100000 made 20 inserts into interactions in each of three default
	// 1M-event drains, 150000 15-19, at the same peak RSS: benchmarks/
	// README.md, "Derived groups of 400,000 rows"); -1 turns grouping off
	// (one insert per batch).
	GroupMaxRows int `yaml:"group_max_rows"`
	// GroupLinger closes a group this long after its first batch arrived
	// however few rows it holds: it bounds the latency grouping adds.
	// Default 200ms.
	GroupLinger time.Duration `yaml:"group_linger"`
	// DerivedGroupMaxRows is GroupMaxRows for the leads flow's groups
	// (Sink.Derived: alerts and KBI facts, ~1.9 rows per event across
	// eleven tables). Its rows are small and each group makes one insert
	// per table and partition, so the engine's cost follows the number of
	// groups (a part per table each), not the rows: at 100000 a 1M-event
	// drain closed 10-13 of its ~21 groups full, 245-259 inserts in all;
	// at 400000 the groups close on derived_group_linger (or when the
	// leads flow's source reaches kafka.max_in_flight_rows), 167-185
	// inserts and 0.86x the engine's CPU (benchmarks/README.md, "Derived
	// groups of 400,000 rows"). Default 400000; group_max_rows -1 turns
	// grouping off for both flows.
	DerivedGroupMaxRows int `yaml:"derived_group_max_rows"`
	// DerivedGroupLinger is GroupLinger for the leads flow's groups
	// (Sink.Derived: KBI facts only). Its batches come a few per second
	// and its inserts are short, so at GroupLinger most of its groups
	// held one or two batches; a longer linger makes fewer inserts for
	// the latency of the KBI facts it adds. Default 1s.
	DerivedGroupLinger time.Duration `yaml:"derived_group_linger"`
	// Migrate applies pending schema migrations in NewSink. Default true;
	// set false where a DBA applies the DDL (then NewSink only checks that
	// every migration this binary knows is recorded as applied).
	Migrate *bool `yaml:"migrate"`

	// Clock stamps ingested_at. Default time.Now. Not configurable in YAML.
	Clock func() time.Time `yaml:"-"`
}

// TLSConfig configures TLS to ClickHouse.
type TLSConfig struct {
	// Enabled turns TLS on with the system roots; implied by any file below.
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM bundle of roots to trust instead of the system's.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the client certificate, for mutual TLS; set
	// both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// InsecureSkipVerify disables server certificate checks. Tests only.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

func (t TLSConfig) on() bool {
	return t.Enabled || t.CAFile != "" || t.CertFile != "" || t.KeyFile != ""
}

// Configuration errors. Validate wraps them with the field's YAML path.
var (
	ErrNoAddress    = errors.New("at least one address is required")
	ErrProtocol     = errors.New(`must be "native" or "http"`)
	ErrIdentifier   = errors.New("must be a plain identifier ([A-Za-z_][A-Za-z0-9_]*)")
	ErrClusterName  = errors.New("must contain only letters, digits, '_', '-' and '.'")
	ErrTLSKeyPair   = errors.New("cert_file and key_file must be set together")
	ErrNegative     = errors.New("must not be negative")
	ErrBackoffRange = errors.New("retry_backoff_min must not exceed retry_backoff_max")
	ErrCompression  = errors.New("unknown compression")
	ErrGroupMaxRows = errors.New("must be -1 (grouping off) or positive")
	// ErrDerivedGroupMaxRows: derived_group_max_rows below 0.
	ErrDerivedGroupMaxRows = errors.New("must be positive (group_max_rows -1 turns grouping off for both flows)")
)

// Defaults, named so docs and tests can refer to them.
const (
	DefaultDatabase            = "salespulse"
	DefaultDialTimeout         = 5 * time.Second
	DefaultReadTimeout         = 60 * time.Second
	DefaultMaxOpenConns        = 8
	DefaultRetryBackoffMin     = 100 * time.Millisecond
	DefaultRetryBackoffMax     = 10 * time.Second
	DefaultGroupMaxRows        = 150_000
	DefaultDerivedGroupMaxRows = 400_000
	DefaultGroupLinger         = 200 * time.Millisecond
	DefaultDerivedGroupLinger  = time.Second
	// CompressionAuto is the default clickhouse.compression: none on
	// loopback, lz4 across a network (Config.Compression).
	CompressionAuto = "auto"
)

// SetDefaults sets every zero field to its documented default.
func (c *Config) SetDefaults() {
	if c.Protocol == "" {
		c.Protocol = "native"
	}
	if len(c.Addresses) == 0 {
		if c.Protocol == "http" {
			c.Addresses = []string{"localhost:8123"}
		} else {
			c.Addresses = []string{"localhost:9000"}
		}
	}
	if c.Database == "" {
		c.Database = DefaultDatabase
	}
	if c.Username == "" {
		c.Username = "default"
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.MaxOpenConns == 0 {
		c.MaxOpenConns = DefaultMaxOpenConns
	}
	if c.Compression == "" {
		c.Compression = CompressionAuto
	}
	if c.RetryBackoffMin == 0 {
		c.RetryBackoffMin = DefaultRetryBackoffMin
	}
	if c.RetryBackoffMax == 0 {
		c.RetryBackoffMax = max(DefaultRetryBackoffMax, c.RetryBackoffMin)
	}
	if c.GroupMaxRows == 0 {
		c.GroupMaxRows = DefaultGroupMaxRows
	}
	if c.DerivedGroupMaxRows == 0 {
		c.DerivedGroupMaxRows = DefaultDerivedGroupMaxRows
	}
	if c.GroupLinger == 0 {
		c.GroupLinger = DefaultGroupLinger
	}
	if c.DerivedGroupLinger == 0 {
		c.DerivedGroupLinger = DefaultDerivedGroupLinger
	}
	if c.Migrate == nil {
		t := true
		c.Migrate = &t
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
}

var (
	identRe   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	clusterRe = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
)

// compression is the method Compression names, "auto" resolved against
// Addresses.
func (c Config) compression() clickhouse.CompressionMethod {
	if c.Compression != CompressionAuto {
		return compressions[c.Compression]
	}
	for _, a := range c.Addresses {
		if !loopback(a) {
			return clickhouse.CompressionLZ4
		}
	}
	return clickhouse.CompressionNone
}

// loopback reports whether the host of a host:port address is this host's
// loopback: "localhost" or a loopback IP. A name that only resolves to one
// (e.g. a hosts-file alias) counts as remote: nothing is resolved here.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

var compressions = map[string]clickhouse.CompressionMethod{
	"none":    clickhouse.CompressionNone,
	"lz4":     clickhouse.CompressionLZ4,
	"zstd":    clickhouse.CompressionZSTD,
	"gzip":    clickhouse.CompressionGZIP,
	"deflate": clickhouse.CompressionDeflate,
	"br":      clickhouse.CompressionBrotli,
}

// Validate reports every configuration error, joined, each wrapped with its
// full YAML path ("clickhouse.protocol: ..."); errors.Is finds the
// sentinels. Call it after SetDefaults: zero fields that have a default are
// errors here. Validate reads no files.
func (c *Config) Validate() error {
	var errs []error
	f := func(field string, err error, v any) {
		errs = append(errs, fmt.Errorf("clickhouse.%s: %w (got %v)", field, err, v))
	}
	if len(c.Addresses) == 0 {
		f("addresses", ErrNoAddress, "[]")
	}
	for k, a := range c.Addresses {
		if a == "" {
			f(fmt.Sprintf("addresses[%d]", k), ErrNoAddress, `""`)
		}
	}
	if c.Protocol != "native" && c.Protocol != "http" {
		f("protocol", ErrProtocol, c.Protocol)
	}
	if !identRe.MatchString(c.Database) {
		f("database", ErrIdentifier, c.Database)
	}
	if c.Cluster != "" && !clusterRe.MatchString(c.Cluster) {
		f("cluster", ErrClusterName, c.Cluster)
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		f("tls", ErrTLSKeyPair, c.TLS.CertFile+"|"+c.TLS.KeyFile)
	}
	for _, d := range []struct {
		field string
		v     time.Duration
	}{{"dial_timeout", c.DialTimeout}, {"read_timeout", c.ReadTimeout}, {"retry_backoff_min", c.RetryBackoffMin}, {"group_linger", c.GroupLinger}, {"derived_group_linger", c.DerivedGroupLinger}} {
		if d.v < 0 {
			f(d.field, ErrNegative, d.v)
		}
	}
	if c.MaxOpenConns < 0 {
		f("max_open_conns", ErrNegative, c.MaxOpenConns)
	}
	if c.GroupMaxRows < -1 {
		f("group_max_rows", ErrGroupMaxRows, c.GroupMaxRows)
	}
	if c.DerivedGroupMaxRows < 0 {
		f("derived_group_max_rows", ErrDerivedGroupMaxRows, c.DerivedGroupMaxRows)
	}
	if c.RetryBackoffMin >= 0 && c.RetryBackoffMin > c.RetryBackoffMax {
		f("retry_backoff_max", ErrBackoffRange, c.RetryBackoffMax)
	}
	m, ok := compressions[c.Compression]
	if c.Compression == CompressionAuto {
		ok = true
	}
	if !ok || c.Protocol == "native" && m > clickhouse.CompressionZSTD {
		f("compression", ErrCompression, c.Compression)
	}
	return errors.Join(errs...)
}

// options turns a defaulted, valid Config into clickhouse-go options. It
// reads the TLS files, and $SALESPULSE_CLICKHOUSE_PASSWORD, which when set
// and non-empty replaces Password.
func (c Config) options() (*clickhouse.Options, error) {
	if p := os.Getenv(EnvPassword); p != "" {
		c.Password = p
	}
	o := &clickhouse.Options{
		Addr: c.Addresses,
		// No Auth.Database: the connection's default database must exist
		// before migrations create ours, and every statement qualifies its
		// tables anyway.
		Auth:             clickhouse.Auth{Username: c.Username, Password: c.Password},
		DialTimeout:      c.DialTimeout,
		ReadTimeout:      c.ReadTimeout,
		MaxOpenConns:     c.MaxOpenConns,
		MaxIdleConns:     c.MaxOpenConns,
		ConnOpenStrategy: clickhouse.ConnOpenInOrder,
		ClientInfo: clickhouse.ClientInfo{Products: []struct{ Name, Version string }{
			{Name: "salespulse", Version: "1"},
		}},
	}
	if c.Protocol == "http" {
		o.Protocol = clickhouse.HTTP
		o.HttpMaxConnsPerHost = c.MaxOpenConns
	}
	if m := c.compression(); m != clickhouse.CompressionNone {
		o.Compression = &clickhouse.Compression{Method: m}
	}
	if c.TLS.on() {
		t := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.TLS.InsecureSkipVerify} //nolint:gosec // opt-in, documented as tests only
		if c.TLS.CAFile != "" {
			pem, err := os.ReadFile(c.TLS.CAFile)
			if err != nil {
				return nil, fmt.Errorf("read clickhouse.tls.ca_file: %w", err)
			}
			t.RootCAs = x509.NewCertPool()
			if !t.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("read clickhouse.tls.ca_file %s: no PEM certificates", c.TLS.CAFile)
			}
		}
		if c.TLS.CertFile != "" {
			pair, err := tls.LoadX509KeyPair(c.TLS.CertFile, c.TLS.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("load clickhouse.tls client certificate: %w", err)
			}
			t.Certificates = []tls.Certificate{pair}
		}
		o.TLS = t
	}
	return o, nil
}
