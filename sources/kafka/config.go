package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Config configures the Kafka source. Zero values get the defaults
// documented on each field, applied in SetDefaults.
type Config struct {
	// Brokers are the seed brokers, host:port. Required.
	Brokers []string `yaml:"brokers"`
	// Group is the consumer group. Default "salespulse".
	Group string `yaml:"group"`
	// ClientID is sent to the brokers for their logs and quotas. Default
	// "salespulse".
	ClientID string `yaml:"client_id"`
	// Topics maps each consumed topic to the name of its decoder. Default
	// {"sales.canonical": "canonical"}.
	Topics map[string]string `yaml:"topics"`
	// DeadLetterTopic receives every record that cannot become an
	// interaction, with the reason in its headers. Default "sales.dlq".
	DeadLetterTopic string `yaml:"dead_letter_topic"`
	// DeadLetterMaxBytes caps a dead letter's value; longer values are cut
	// and carry a salespulse-truncated header with the original length.
	// Default 900 KiB, which fits Kafka's default 1 MB message.max.bytes
	// together with the headers.
	DeadLetterMaxBytes int `yaml:"dead_letter_max_bytes"`
	// MaxRecordBytes is the largest record value decoded; larger records
	// are dead-lettered (rule "oversized"). Default 1 MiB: no single sales
	// event is that large (a HubSpot body of 100 events is ~30 KB), so a
	// bigger record is a producer bug, not data.
	MaxRecordBytes int `yaml:"max_record_bytes"`
	// BatchMaxRows closes a batch once it holds this many interactions.
	// Default 20000.
	BatchMaxRows int `yaml:"batch_max_rows"`
	// BatchMaxBytes closes a batch once its record values reach this many
	// bytes. Default 16 MiB.
	BatchMaxBytes int64 `yaml:"batch_max_bytes"`
	// BatchLinger closes a non-empty batch this long after its first record
	// arrived, so a quiet partition still flows. Default 500ms.
	BatchLinger time.Duration `yaml:"batch_linger"`
	// MaxInFlightBatches bounds the batches per partition handed out (or
	// cut) but not yet acknowledged; at the bound the partition's fetching
	// pauses. Their ends travel in the commit metadata, which Kafka caps at
	// 4096 bytes by default, hence the maximum of 64. Default 8.
	MaxInFlightBatches int `yaml:"max_in_flight_batches"`
	// MaxInFlightRows bounds the interactions cut but not yet acknowledged
	// across all partitions; at the bound every partition's fetching
	// pauses, so a slow sink costs bounded memory. Default 200000.
	MaxInFlightRows int `yaml:"max_in_flight_rows"`
	// ReadAheadBytes bounds, in bytes, what the process's sources hold
	// fetched and decoded but not yet acknowledged: records waiting for a
	// decoder, open batches, batches queued or in the stages and sinks.
	// The three flows of internal/app (ingest, contacts, leads) share it;
	// a source at its share pauses fetching like at max_in_flight_rows
	// (ReadAhead has the rule). Estimated: 448 bytes per decoded
	// interaction plus its record's bytes. Default 384 MiB, or a quarter
	// of the Go soft memory limit (GOMEMLIMIT, or the container's, see
	// docs/configuration.md) when that is smaller. A negative value
	// means unbounded (the row and batch bounds alone).
	ReadAheadBytes int64 `yaml:"read_ahead_bytes"`
	// DecodeWorkers is how many goroutines decode fetched records, off the
	// poll loop; one partition's records are decoded by one at a time, in
	// offset order. Default GOMAXPROCS.
	DecodeWorkers int `yaml:"decode_workers"`
	// CommitInterval is how often acknowledged progress is committed when
	// no new batch forces a commit. Default 1s.
	CommitInterval time.Duration `yaml:"commit_interval"`
	// CommitTimeout bounds one offset commit. Default 10s.
	CommitTimeout time.Duration `yaml:"commit_timeout"`
	// RevokeTimeout bounds how long a rebalance waits for in-flight batches
	// of revoked partitions to be acknowledged before giving them up (they
	// are then redelivered to the new owner). Keep it well under the
	// group's rebalance timeout (60s). Default 10s.
	RevokeTimeout time.Duration `yaml:"revoke_timeout"`
	// SessionTimeout is the group session timeout. Default 45s.
	SessionTimeout time.Duration `yaml:"session_timeout"`
	// FetchMaxBytes bounds one fetch response (compressed, as on the
	// wire). Default read_ahead_bytes ÷ 32, between 1 MiB and 50 MiB: a
	// fetch lands whole before the budget is looked at, and decompressed
	// and decoded it is several times its size (s2-compressed canonical
	// JSON: ~4× in records, ~10× decoded), so a larger fetch overshoots
	// the budget by that much.
	FetchMaxBytes int32 `yaml:"fetch_max_bytes"`
	// FetchMaxWait is how long a broker may hold a fetch that found
	// nothing new (the Java consumer's fetch.max.wait.ms, whose default
	// this is). Default 500ms. The source pauses a partition whose batches
	// are at their in-flight bound or whose records wait for a decoder;
	// the fetch sent meanwhile asks only for the other partitions, which
	// on a quiet topic (a vendor with no traffic) hold nothing, and a
	// resumed partition is fetched only once that fetch returns. franz-go's
	// default, 5s, made that a 5-7 s stall of every partition, several
	// times a minute, under a steady 30k events/s (benchmarks/README.md,
	// "Latency").
	FetchMaxWait time.Duration `yaml:"fetch_max_wait"`
	// StartOffset is where a group without committed offsets starts:
	// "earliest" (default) or "latest".
	StartOffset string `yaml:"start_offset"`

	TLS  TLSConfig  `yaml:"tls"`
	SASL SASLConfig `yaml:"sasl"`
}

// TLSConfig enables TLS to the brokers.
type TLSConfig struct {
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM bundle to verify brokers with. Default: system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the client certificate for mutual TLS; both
	// or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name verified in the broker certificate.
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// SASLConfig enables SASL authentication.
type SASLConfig struct {
	// Mechanism is "" (none), "PLAIN", "SCRAM-SHA-256" or "SCRAM-SHA-512".
	Mechanism string `yaml:"mechanism"`
	Username  string `yaml:"username"`
	// Password, or PasswordEnv naming the environment variable holding it
	// (read by Opts, so secrets stay out of config files).
	Password    string `yaml:"password"`
	PasswordEnv string `yaml:"password_env"`
}

// Sentinel configuration errors, wrapped with the field path.
var (
	ErrNoBrokers      = errors.New("at least one broker is required")
	ErrNoTopics       = errors.New("at least one topic is required")
	ErrEmpty          = errors.New("must not be empty")
	ErrNotPositive    = errors.New("must be positive")
	ErrOutOfRange     = errors.New("out of range")
	ErrDeadLetterLoop = errors.New("dead-letter topic must not be a consumed topic")
	ErrStartOffset    = errors.New(`must be "earliest" or "latest"`)
	ErrMechanism      = errors.New(`must be "PLAIN", "SCRAM-SHA-256" or "SCRAM-SHA-512"`)
	ErrCredentials    = errors.New("username and password (or password_env) are required")
	ErrCertKeyPair    = errors.New("cert_file and key_file must be given together")
)

// DefaultReadAheadBytes is kafka.read_ahead_bytes when unset, given the
// Go soft memory limit (math.MaxInt64: none): 384 MiB, at most a quarter
// of the limit. It keeps a 12-partition topic's batches (~12k
// interactions, ~9 MB each) flowing in all three flows and lets the
// ingest flow's insert groups grow while the previous one is inserted:
// at 128 MiB a 1M-event drain made 33 inserts into interactions instead
// of 17; at 256 MiB, once the leads flow's batches waited in insert
// groups of their own, 20-26 (median 22 in 7 drains) against 16-20 at
// 384 MiB, for ~0.3 GB more peak RSS (benchmarks/README.md, "Memory"
// and "Every leads-flow table grouped"). The quarter leaves the rest of
// a small limit to the collector's headroom, the stages' state and the
// sinks' column buffers.
func DefaultReadAheadBytes(memLimit int64) int64 {
	return min(384<<20, memLimit/4)
}

// SetDefaults fills zero fields with their documented defaults.
func (c *Config) SetDefaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.Group, "salespulse")
	def(&c.ClientID, "salespulse")
	def(&c.DeadLetterTopic, "sales.dlq")
	def(&c.StartOffset, "earliest")
	if len(c.Topics) == 0 {
		c.Topics = map[string]string{"sales.canonical": "canonical"}
	}
	if c.DeadLetterMaxBytes == 0 {
		c.DeadLetterMaxBytes = 900 << 10
	}
	if c.MaxRecordBytes == 0 {
		c.MaxRecordBytes = 1 << 20
	}
	if c.BatchMaxRows == 0 {
		c.BatchMaxRows = 20000
	}
	if c.BatchMaxBytes == 0 {
		c.BatchMaxBytes = 16 << 20
	}
	if c.MaxInFlightRows == 0 {
		c.MaxInFlightRows = 200000
	}
	if c.BatchLinger == 0 {
		c.BatchLinger = 500 * time.Millisecond
	}
	if c.MaxInFlightBatches == 0 {
		c.MaxInFlightBatches = 8
	}
	if c.ReadAheadBytes == 0 {
		c.ReadAheadBytes = DefaultReadAheadBytes(debug.SetMemoryLimit(-1))
	}
	if c.DecodeWorkers == 0 {
		c.DecodeWorkers = runtime.GOMAXPROCS(0)
	}
	if c.CommitInterval == 0 {
		c.CommitInterval = time.Second
	}
	if c.CommitTimeout == 0 {
		c.CommitTimeout = 10 * time.Second
	}
	if c.RevokeTimeout == 0 {
		c.RevokeTimeout = 10 * time.Second
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = 45 * time.Second
	}
	if c.FetchMaxWait == 0 {
		c.FetchMaxWait = 500 * time.Millisecond
	}
	if c.FetchMaxBytes == 0 {
		ra := c.ReadAheadBytes
		if ra <= 0 {
			ra = 50 << 20 * 32 // unbounded read-ahead: the old 50 MiB
		}
		c.FetchMaxBytes = int32(min(max(ra/32, 1<<20), 50<<20))
	}
}

// Validate reports every configuration error, joined, each wrapped with its
// field path, so an operator fixes a file in one round. Call it after
// SetDefaults (NewSource does both).
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if len(c.Brokers) == 0 {
		add("kafka.brokers: %w", ErrNoBrokers)
	}
	for k, b := range c.Brokers {
		if b == "" {
			add("kafka.brokers[%d]: %w", k, ErrEmpty)
		}
	}
	if c.Group == "" {
		add("kafka.group: %w", ErrEmpty)
	}
	if len(c.Topics) == 0 {
		add("kafka.topics: %w", ErrNoTopics)
	}
	for _, t := range c.topicNames() {
		switch d := c.Topics[t]; {
		case t == "":
			add("kafka.topics: topic name: %w", ErrEmpty)
		case d == "":
			add("kafka.topics.%s: decoder: %w", t, ErrEmpty)
		case t == c.DeadLetterTopic:
			add("kafka.dead_letter_topic %q: %w", t, ErrDeadLetterLoop)
		}
	}
	if c.DeadLetterTopic == "" {
		add("kafka.dead_letter_topic: %w", ErrEmpty)
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"dead_letter_max_bytes", int64(c.DeadLetterMaxBytes)},
		{"max_record_bytes", int64(c.MaxRecordBytes)},
		{"batch_max_rows", int64(c.BatchMaxRows)},
		{"batch_max_bytes", c.BatchMaxBytes},
		{"batch_linger", int64(c.BatchLinger)},
		{"max_in_flight_batches", int64(c.MaxInFlightBatches)},
		{"max_in_flight_rows", int64(c.MaxInFlightRows)},
		{"decode_workers", int64(c.DecodeWorkers)},
		{"commit_interval", int64(c.CommitInterval)},
		{"commit_timeout", int64(c.CommitTimeout)},
		{"revoke_timeout", int64(c.RevokeTimeout)},
		{"session_timeout", int64(c.SessionTimeout)},
		{"fetch_max_bytes", int64(c.FetchMaxBytes)},
		{"fetch_max_wait", int64(c.FetchMaxWait)},
	} {
		if f.v <= 0 {
			add("kafka.%s: %w", f.name, ErrNotPositive)
		}
	}
	if c.MaxInFlightBatches > 64 {
		add("kafka.max_in_flight_batches %d (max 64): %w", c.MaxInFlightBatches, ErrOutOfRange)
	}
	if c.FetchMaxWait > time.Minute {
		add("kafka.fetch_max_wait %v (max 1m): %w", c.FetchMaxWait, ErrOutOfRange)
	}
	if c.DeadLetterMaxBytes > 64<<20 {
		add("kafka.dead_letter_max_bytes %d (max 64 MiB): %w", c.DeadLetterMaxBytes, ErrOutOfRange)
	}
	if c.StartOffset != "earliest" && c.StartOffset != "latest" {
		add("kafka.start_offset %q: %w", c.StartOffset, ErrStartOffset)
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		add("kafka.tls: %w", ErrCertKeyPair)
	}
	switch c.SASL.Mechanism {
	case "":
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		if c.SASL.Username == "" || c.SASL.Password == "" && c.SASL.PasswordEnv == "" {
			add("kafka.sasl: %w", ErrCredentials)
		}
	default:
		add("kafka.sasl.mechanism %q: %w", c.SASL.Mechanism, ErrMechanism)
	}
	return errors.Join(errs...)
}

// topicNames returns the consumed topics, sorted.
func (c *Config) topicNames() []string {
	ts := make([]string, 0, len(c.Topics))
	for t := range c.Topics {
		ts = append(ts, t)
	}
	sort.Strings(ts)
	return ts
}

// Opts turns the config into franz-go options: the only place that does.
// It reads the TLS files and the SASL password environment variable. The
// source adds its own group callbacks on top; callers add hooks (kprom).
func (c *Config) Opts() ([]kgo.Opt, error) {
	opts, err := c.groupOpts()
	if err != nil {
		return nil, err
	}
	return append(opts, kgo.ConsumeTopics(c.topicNames()...)), nil
}

// groupOpts are Opts without the topics. A group client without topics
// does not join: the source adds them on its first Next, so that nothing
// is assigned (and no offsets fetched) before SetCutHistory.
func (c *Config) groupOpts() ([]kgo.Opt, error) {
	conn, err := c.ConnOpts()
	if err != nil {
		return nil, err
	}
	start := kgo.NewOffset().AtStart()
	if c.StartOffset == "latest" {
		start = kgo.NewOffset().AtEnd()
	}
	// A dead letter carries the original value (up to DeadLetterMaxBytes)
	// plus headers; the producer must accept a batch of that size.
	produceMax := max(int32(c.DeadLetterMaxBytes)+64<<10, 1_000_012)
	return append(conn,
		kgo.ConsumerGroup(c.Group),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.ConsumeResetOffset(start),
		// SalesPulse's own topics (the lead topics) are written in
		// transactions with the state that produced them: only committed
		// ones may be read. Records of non-transactional producers (the
		// vendors' connectors) are committed as written.
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Their markers are handed over too (decode skips them): a
		// partition's last offset is then a marker, and committing past
		// it is what brings the lag to 0.
		kgo.KeepControlRecords(),
		kgo.SessionTimeout(c.SessionTimeout),
		kgo.FetchMaxBytes(c.FetchMaxBytes),
		kgo.FetchMaxWait(c.FetchMaxWait),
		// A single record may be up to MaxRecordBytes (and more, to be
		// dead-lettered); Kafka returns at least one batch regardless, but
		// asking for enough avoids a fetch round trip per big record.
		kgo.FetchMaxPartitionBytes(max(int32(c.MaxRecordBytes)+1<<20, 1<<20)),
		kgo.BrokerMaxReadBytes(max(2*c.FetchMaxBytes, int32(c.MaxRecordBytes)+2<<20, 100<<20)),
		// Offsets are committed by the source alone, after sinks ack, with
		// the batch cuts in the commit metadata.
		kgo.DisableAutoCommit(),
		// Revocation must not run between a poll and the bookkeeping of
		// what it returned (cuts, seeks, commits).
		kgo.BlockRebalanceOnPoll(),
		kgo.ProducerBatchMaxBytes(produceMax),
		// A dead letter that is not acknowledged holds the batch back; wait
		// for all in-sync replicas as for any record we must not lose.
		kgo.RequiredAcks(kgo.AllISRAcks()),
	), nil
}

// ConnOpts are only how to reach the cluster — seed brokers, client id,
// TLS, SASL — for other clients of the same cluster (the alert dispatcher,
// the state changelog) that bring their own group and topics.
func (c *Config) ConnOpts() ([]kgo.Opt, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.ClientID(c.ClientID),
	}
	if c.TLS.Enabled {
		tc := &tls.Config{ServerName: c.TLS.ServerName, InsecureSkipVerify: c.TLS.InsecureSkipVerify, MinVersion: tls.VersionTLS12} //nolint:gosec // opt-in by config
		if c.TLS.CAFile != "" {
			pem, err := os.ReadFile(c.TLS.CAFile)
			if err != nil {
				return nil, fmt.Errorf("kafka.tls.ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("kafka.tls.ca_file %s: no PEM certificates", c.TLS.CAFile)
			}
			tc.RootCAs = pool
		}
		if c.TLS.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(c.TLS.CertFile, c.TLS.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("kafka.tls: load client certificate: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if m := c.SASL.Mechanism; m != "" {
		pass := c.SASL.Password
		if c.SASL.PasswordEnv != "" {
			pass = os.Getenv(c.SASL.PasswordEnv)
			if pass == "" {
				return nil, fmt.Errorf("kafka.sasl.password_env: $%s is empty: %w", c.SASL.PasswordEnv, ErrCredentials)
			}
		}
		switch m {
		case "PLAIN":
			opts = append(opts, kgo.SASL(plain.Auth{User: c.SASL.Username, Pass: pass}.AsMechanism()))
		case "SCRAM-SHA-256":
			opts = append(opts, kgo.SASL(scram.Auth{User: c.SASL.Username, Pass: pass}.AsSha256Mechanism()))
		case "SCRAM-SHA-512":
			opts = append(opts, kgo.SASL(scram.Auth{User: c.SASL.Username, Pass: pass}.AsSha512Mechanism()))
		}
	}
	return opts, nil
}
