// Package kafka embeds a single-broker Kafka (franz-go's kfake) for
// machines where no Kafka is installed: development, demos, single-node
// deployments and tests. Outside clients (kcat, any Kafka client) reach it
// on Config.Addr; with Config.DataDir set, topics, records and committed
// group offsets survive a restart of the process.
//
// It is not a replacement for a replicated cluster: one process, one copy
// of the data, and writes reach the disk through the page cache (see
// Config.SyncWrites).
package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Config configures the embedded cluster. Zero values get the defaults
// documented on each field, applied in setDefaults.
type Config struct {
	// Addr is the host:port the broker listens on. Default 127.0.0.1:9092.
	// Use "127.0.0.1:0" for a free port (tests).
	Addr string `yaml:"addr"`
	// AdvertisedAddr is the host:port clients are told to connect to in
	// metadata responses. Default: the address actually listened on. Set it
	// when listening on 0.0.0.0 so remote clients get a routable address.
	AdvertisedAddr string `yaml:"advertised_addr"`
	// DataDir keeps the log segments, topics and group offsets on disk so
	// a restarted process resumes where it stopped. Empty keeps everything
	// in memory (lost on Close).
	DataDir string `yaml:"data_dir"`
	// SyncWrites fsyncs every produced batch. Default false: writes reach
	// the OS page cache immediately (they survive a crash of this process,
	// not of the machine) and are synced on segment roll and on Close, like
	// Kafka's default log.flush settings.
	SyncWrites bool `yaml:"sync_writes"`
	// Topics are created at start when missing (existing topics, e.g. from
	// DataDir, are left as they are: partition counts are never changed).
	Topics []Topic `yaml:"topics"`
	// DefaultPartitions is the partition count of topics that name none and
	// of auto-created topics. Default 12.
	DefaultPartitions int32 `yaml:"default_partitions"`
	// MaxMessageBytes is the broker's message.max.bytes: the largest record
	// batch a producer may send. Default 8 MiB, so multi-megabyte records
	// (up to the source's 4 MiB max_record_bytes, and beyond, to be
	// dead-lettered) are accepted.
	MaxMessageBytes int `yaml:"max_message_bytes"`
	// AutoCreateTopics lets metadata requests create unknown topics.
	// Default false: a typo in a producer's topic fails loudly.
	AutoCreateTopics bool `yaml:"auto_create_topics"`
}

// Topic is one topic to create.
type Topic struct {
	Name string `yaml:"name"`
	// Partitions; 0 means Config.DefaultPartitions.
	Partitions int32 `yaml:"partitions"`
}

// Sentinel configuration errors, wrapped with the offending field.
var (
	ErrBadAddr      = errors.New("invalid address")
	ErrBadTopic     = errors.New("invalid topic")
	ErrBadNumber    = errors.New("must not be negative")
	ErrSmallMessage = errors.New("must be at least 1 MiB")
)

// SetDefaults fills what c leaves unset (documented on each field).
func (c *Config) SetDefaults() {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:9092"
	}
	if c.DefaultPartitions == 0 {
		c.DefaultPartitions = 12
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = 8 << 20
	}
}

// Validate reports configuration errors without listening or touching the
// disk. Call it on a config with defaults applied (Start does both).
func (c Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("embedded kafka: addr %q: %w", c.Addr, ErrBadAddr)
	}
	if c.AdvertisedAddr != "" {
		if _, p, err := net.SplitHostPort(c.AdvertisedAddr); err != nil || p == "" {
			return fmt.Errorf("embedded kafka: advertised_addr %q: %w", c.AdvertisedAddr, ErrBadAddr)
		}
	}
	if c.DefaultPartitions < 0 {
		return fmt.Errorf("embedded kafka: default_partitions: %w", ErrBadNumber)
	}
	if c.MaxMessageBytes < 1<<20 {
		return fmt.Errorf("embedded kafka: max_message_bytes %d: %w", c.MaxMessageBytes, ErrSmallMessage)
	}
	for k, t := range c.Topics {
		if t.Name == "" || len(t.Name) > 249 {
			return fmt.Errorf("embedded kafka: topics[%d].name %q: %w", k, t.Name, ErrBadTopic)
		}
		if t.Partitions < 0 {
			return fmt.Errorf("embedded kafka: topics[%d].partitions: %w", k, ErrBadNumber)
		}
	}
	return nil
}

// Cluster is a running embedded broker.
type Cluster struct {
	c      *kfake.Cluster
	addrs  []string
	logger *slog.Logger
}

// Start listens on cfg.Addr, reloads cfg.DataDir if it holds a previous
// run, and creates the configured topics that do not exist yet.
func Start(cfg Config, logger *slog.Logger) (*Cluster, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "embedded-kafka")

	maxMsg := strconv.Itoa(cfg.MaxMessageBytes)
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ClusterID("salespulse-embedded"),
		kfake.DefaultNumPartitions(int(cfg.DefaultPartitions)),
		kfake.WithLogger(slogLogger{logger}),
		// kfake always asks for 127.0.0.1:<port>; we listen where the
		// config says instead, and advertise what the config says, because
		// metadata hands the listener's address to every client.
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			ln, err := net.Listen(network, cfg.Addr)
			if err != nil {
				return nil, err
			}
			if cfg.AdvertisedAddr != "" {
				return advertised{ln, cfg.AdvertisedAddr}, nil
			}
			return ln, nil
		}),
		kfake.BrokerConfigs(map[string]string{"message.max.bytes": maxMsg}),
	}
	if cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.DataDir))
		if cfg.SyncWrites {
			opts = append(opts, kfake.SyncWrites())
		}
	}
	if cfg.AutoCreateTopics {
		opts = append(opts, kfake.AllowAutoTopicCreation())
	}
	kc, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("start embedded kafka on %s: %w", cfg.Addr, err)
	}
	c := &Cluster{c: kc, addrs: kc.ListenAddrs(), logger: logger}
	if err := c.createTopics(cfg, maxMsg); err != nil {
		kc.Close()
		return nil, err
	}
	logger.Info("embedded kafka started", "addrs", c.addrs, "data_dir", cfg.DataDir)
	return c, nil
}

// createTopics goes through the Kafka API rather than kfake.SeedTopics:
// seeded topics are ignored when DataDir already holds state, so a topic
// added to the config later would never appear.
func (c *Cluster) createTopics(cfg Config, maxMsg string) error {
	if len(cfg.Topics) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.addrs...))
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	byParts := make(map[int32][]string)
	for _, t := range cfg.Topics {
		p := t.Partitions
		if p == 0 {
			p = cfg.DefaultPartitions
		}
		byParts[p] = append(byParts[p], t.Name)
	}
	parts := make([]int32, 0, len(byParts))
	for p := range byParts {
		parts = append(parts, p)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	for _, p := range parts {
		resp, err := adm.CreateTopics(ctx, p, 1, map[string]*string{"max.message.bytes": &maxMsg}, byParts[p]...)
		if err != nil {
			return fmt.Errorf("create topics %v: %w", byParts[p], err)
		}
		for _, r := range resp.Sorted() {
			switch {
			case r.Err == nil:
				c.logger.Info("created topic", "topic", r.Topic, "partitions", p)
			case errors.Is(r.Err, kerr.TopicAlreadyExists):
			default:
				return fmt.Errorf("create topic %s: %w", r.Topic, r.Err)
			}
		}
	}
	return nil
}

// Addrs returns the broker addresses clients should bootstrap from.
func (c *Cluster) Addrs() []string { return append([]string(nil), c.addrs...) }

// Close stops the broker. With a DataDir it first writes the full state
// (topics, group offsets, producer sequence windows) and syncs the
// segments, so the next Start resumes exactly here. Safe to call twice.
func (c *Cluster) Close() error {
	c.c.Close()
	return nil
}

// advertised reports addr as the listener's address, which kfake puts in
// metadata responses.
type advertised struct {
	net.Listener
	addr string
}

func (a advertised) Addr() net.Addr { return hostPort(a.addr) }

type hostPort string

func (hostPort) Network() string  { return "tcp" }
func (h hostPort) String() string { return string(h) }

type slogLogger struct{ l *slog.Logger }

func (s slogLogger) Logf(level kfake.LogLevel, msg string, args ...any) {
	var l slog.Level
	switch level {
	case kfake.LogLevelError:
		l = slog.LevelError
	case kfake.LogLevelWarn:
		l = slog.LevelWarn
	case kfake.LogLevelInfo:
		// kfake logs every request at info; that is debug for us.
		l = slog.LevelDebug
	default:
		l = slog.LevelDebug - 4
	}
	ctx := context.Background()
	if !s.l.Enabled(ctx, l) {
		return
	}
	s.l.Log(ctx, l, fmt.Sprintf(msg, args...))
}
