// Package app wires sources, pipeline stages and sinks into a running
// SalesPulse instance. It is the one place that knows every package: cmd/
// parses flags and calls it, and the end-to-end tests and benchmarks use it
// so they run exactly what production runs.
package app

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/salespulse/salespulse/pipeline"
	"github.com/salespulse/salespulse/pipeline/privacy"
	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sinks/clickhouse"
	"github.com/salespulse/salespulse/sources/aircall"
	"github.com/salespulse/salespulse/sources/graph"
	"github.com/salespulse/salespulse/sources/hubspot"
	"github.com/salespulse/salespulse/sources/kafka"
	"github.com/salespulse/salespulse/sources/salesforce"
	"github.com/salespulse/salespulse/sources/twilio"
	"github.com/salespulse/salespulse/sources/zoom"
)

// Decoder names, as used in kafka.topics.
const (
	DecoderCanonical  = "canonical"
	DecoderSalesforce = "salesforce"
	DecoderHubSpot    = "hubspot"
	DecoderZoom       = "zoom"
	DecoderGraph      = "graph"
	DecoderAircall    = "aircall"
	DecoderTwilio     = "twilio"
)

// DefaultTopics binds one topic per source system to its decoder.
func DefaultTopics() map[string]string {
	return map[string]string{
		"sales.canonical":  DecoderCanonical,
		"sales.salesforce": DecoderSalesforce,
		"sales.hubspot":    DecoderHubSpot,
		"sales.zoom":       DecoderZoom,
		"sales.graph":      DecoderGraph,
		"sales.aircall":    DecoderAircall,
		"sales.twilio":     DecoderTwilio,
	}
}

// Config is the whole salespulse.yml. `salespulse config example` prints a
// commented one; docs/configuration.md documents every key.
type Config struct {
	Log        LogConfig         `yaml:"log"`
	HTTP       HTTPConfig        `yaml:"http"`
	Kafka      kafka.Config      `yaml:"kafka"`
	ClickHouse clickhouse.Config `yaml:"clickhouse"`
	Pipeline   pipeline.Config   `yaml:"pipeline"`
	Privacy    privacy.Config    `yaml:"privacy"`
	// OrgFile is the organisation (teams, managers, reps and their vendor
	// identities; docs/org-file.md). Vendor decoders need it to find the
	// rep of an event; without it only canonical events that name their
	// rep are accepted.
	OrgFile string        `yaml:"org_file"`
	Sources SourcesConfig `yaml:"sources"`
}

// LogConfig selects the log format and level.
type LogConfig struct {
	// Format is "json" (default for run) or "text" (default for dev).
	Format string `yaml:"format"`
	// Level is debug, info (default), warn or error.
	Level string `yaml:"level"`
}

// HTTPConfig is the admin server: /metrics, /healthz, /readyz.
type HTTPConfig struct {
	// Addr defaults to 127.0.0.1:8080.
	Addr string `yaml:"addr"`
}

// SourcesConfig holds each vendor normaliser's options.
type SourcesConfig struct {
	Salesforce salesforce.Config `yaml:"salesforce"`
	HubSpot    hubspot.Config    `yaml:"hubspot"`
	Zoom       zoom.Config       `yaml:"zoom"`
	Graph      graph.Config      `yaml:"graph"`
	Aircall    aircall.Config    `yaml:"aircall"`
	Twilio     twilio.Config     `yaml:"twilio"`
}

// Validation errors for the top-level keys.
var (
	ErrLogFormat      = errors.New(`must be "json" or "text"`)
	ErrLogLevel       = errors.New("must be debug, info, warn or error")
	ErrUnknownDecoder = errors.New("unknown decoder")
)

// SetDefaults fills what the file left out. Each package applies its own
// defaults too; this adds the ones that only make sense for the whole app.
func (c *Config) SetDefaults() {
	if c.Log.Format == "" {
		c.Log.Format = "json"
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.HTTP.Addr == "" {
		c.HTTP.Addr = "127.0.0.1:8080"
	}
	if len(c.Kafka.Topics) == 0 {
		c.Kafka.Topics = DefaultTopics()
	}
	c.Kafka.SetDefaults()
	c.Sources.Salesforce.SetDefaults()
	c.Sources.HubSpot.SetDefaults()
	c.Sources.Zoom = c.Sources.Zoom.WithDefaults()
	c.Sources.Graph = c.Sources.Graph.WithDefaults()
	c.Sources.Aircall = c.Sources.Aircall.WithDefaults()
	c.Sources.Twilio = c.Sources.Twilio.WithDefaults()
}

// Validate returns every problem found, each prefixed by its path in the
// file, joined: an operator fixes them all in one round.
func (c *Config) Validate() error { return c.validate(true) }

// validate skips the privacy key check when the caller supplies its own
// pseudonymiser (salespulse dev uses the dev key).
func (c *Config) validate(privacyKey bool) error {
	var errs []error
	add := func(path string, err error) {
		if err != nil {
			errs = append(errs, prefix(path, err))
		}
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		add("log.format", fmt.Errorf("%q: %w", c.Log.Format, ErrLogFormat))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level", fmt.Errorf("%q: %w", c.Log.Level, ErrLogLevel))
	}
	add("kafka", c.Kafka.Validate())
	for topic, dec := range c.Kafka.Topics {
		switch dec {
		case DecoderCanonical, DecoderSalesforce, DecoderHubSpot, DecoderZoom, DecoderGraph, DecoderAircall, DecoderTwilio:
		default:
			add("kafka.topics."+topic, fmt.Errorf("%q: %w (want one of canonical, salesforce, hubspot, zoom, graph, aircall, twilio)", dec, ErrUnknownDecoder))
		}
	}
	add("clickhouse", c.ClickHouse.Validate())
	add("pipeline", c.Pipeline.Validate())
	if privacyKey {
		add("privacy", c.Privacy.Validate())
	}
	if c.OrgFile != "" {
		if _, err := LoadOrg(c.OrgFile); err != nil {
			add("org_file", err)
		}
	}
	add("sources.salesforce", c.Sources.Salesforce.Validate())
	add("sources.hubspot", c.Sources.HubSpot.Validate())
	add("sources.zoom", c.Sources.Zoom.Validate())
	add("sources.graph", c.Sources.Graph.Validate())
	add("sources.aircall", c.Sources.Aircall.Validate())
	add("sources.twilio", c.Sources.Twilio.Validate())
	return errors.Join(errs...)
}

// prefix puts path in front of err unless err already names it (packages
// often start their messages with their own field path).
func prefix(path string, err error) error {
	msg := err.Error()
	last := path[strings.LastIndexByte(path, '.')+1:]
	if strings.HasPrefix(msg, path) || strings.HasPrefix(msg, last+".") || strings.HasPrefix(msg, last+":") {
		return err
	}
	return fmt.Errorf("%s: %w", path, err)
}

// LoadConfig reads a YAML config file strictly: an unknown key is an error,
// because a misspelt key silently falling back to its default is how
// pipelines end up half-configured in production.
func LoadConfig(path string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return ParseConfig(raw)
}

// ParseConfig parses YAML config bytes strictly and applies defaults.
func ParseConfig(raw []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	// An empty file is an all-defaults config (yaml.v3 reports it as EOF).
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parse config: %w", err)
	}
	c.SetDefaults()
	return &c, nil
}

// LoadOrg reads an org file (YAML, docs/org-file.md).
func LoadOrg(path string) (*schemas.Org, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read org file: %w", err)
	}
	var o schemas.Org
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&o); err != nil {
		return nil, fmt.Errorf("parse org file %s: %w", path, err)
	}
	return &o, nil
}
