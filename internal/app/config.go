// Package app wires sources, pipeline stages and sinks into a running
// SalesPulse instance. It is the one place that knows every package: cmd/
// parses flags and calls it, and the end-to-end tests and benchmarks use it
// so they run exactly what production runs.
package app

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"os"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/salespulse/salespulse/pipeline"
	"github.com/salespulse/salespulse/pipeline/anomaly"
	"github.com/salespulse/salespulse/pipeline/privacy"
	"github.com/salespulse/salespulse/pipeline/window"
	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sinks/alert"
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
	// Window configures event-time KBIs: watermarks, lateness, expiry,
	// business-hours calendars and the state changelog topic.
	Window window.Config `yaml:"window"`
	// Anomaly tunes the detectors; anomaly.matrix_file is the discount
	// authorization matrix (docs/alerts.md).
	Anomaly anomaly.Config `yaml:"anomaly"`
	// Alerts names the alerts topic and the hooks that page managers.
	Alerts alert.Config `yaml:"alerts"`
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
	ErrHTTPAddr       = errors.New("must be host:port")
	// ErrNoSuchFile: a file the config names does not exist.
	ErrNoSuchFile = errors.New("no such file")
	// ErrUnreadable: a file the config names exists but cannot be read (a
	// directory, or permissions).
	ErrUnreadable = errors.New("cannot read file")
	// ErrNoPEM: a CA file holds no PEM certificate.
	ErrNoPEM = errors.New("no PEM certificates in file")
	// ErrKeyPair: cert_file and key_file do not load as one key pair.
	ErrKeyPair = errors.New("cert_file and key_file are not a valid key pair")
	// ErrTLSDisabled: TLS files are given but TLS is off, which would
	// silently connect in plain text.
	ErrTLSDisabled = errors.New("set, but tls.enabled is false: the connection would not use TLS")
	// ErrPasswordEnv: the variable named by kafka.sasl.password_env is unset
	// or empty where the config is validated.
	ErrPasswordEnv = errors.New("environment variable is unset or empty")
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
	if _, _, err := net.SplitHostPort(c.HTTP.Addr); err != nil {
		add("http.addr", fmt.Errorf("%q: %w", c.HTTP.Addr, ErrHTTPAddr))
	}
	add("kafka", c.Kafka.Validate())
	for _, topic := range slices.Sorted(maps.Keys(c.Kafka.Topics)) {
		switch dec := c.Kafka.Topics[topic]; dec {
		case DecoderCanonical, DecoderSalesforce, DecoderHubSpot, DecoderZoom, DecoderGraph, DecoderAircall, DecoderTwilio:
		case "": // reported by kafka.Validate
		default:
			add("kafka.topics."+topic, fmt.Errorf("%q: %w (want one of canonical, salesforce, hubspot, zoom, graph, aircall, twilio)", dec, ErrUnknownDecoder))
		}
	}
	kt := c.Kafka.TLS
	if !kt.Enabled {
		for _, f := range []struct{ key, v string }{{"ca_file", kt.CAFile}, {"cert_file", kt.CertFile}, {"key_file", kt.KeyFile}} {
			if f.v != "" {
				add("kafka.tls."+f.key, ErrTLSDisabled)
			}
		}
	}
	checkTLSFiles("kafka.tls", kt.CAFile, kt.CertFile, kt.KeyFile, add)
	if env := c.Kafka.SASL.PasswordEnv; c.Kafka.SASL.Mechanism != "" && env != "" && os.Getenv(env) == "" {
		add("kafka.sasl.password_env", fmt.Errorf("$%s: %w", env, ErrPasswordEnv))
	}
	// Defaulted on a copy: callers (salespulse dev, privacy --dev) still
	// tell an unset clickhouse section from the defaults after loading.
	ch := c.ClickHouse
	ch.SetDefaults()
	add("clickhouse", ch.Validate())
	checkTLSFiles("clickhouse.tls", c.ClickHouse.TLS.CAFile, c.ClickHouse.TLS.CertFile, c.ClickHouse.TLS.KeyFile, add)
	add("pipeline", c.Pipeline.Validate())
	if privacyKey {
		add("privacy", c.Privacy.Validate())
	}
	if c.OrgFile != "" {
		if err := checkFile(c.OrgFile); err != nil {
			add("org_file", err)
		} else if _, err := LoadOrg(c.OrgFile); err != nil {
			add("org_file", err)
		}
	}
	// The Salesforce and HubSpot configs name their fields relative to
	// their section ("topic: ..."); the others start with the vendor name.
	addRel := func(path string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.%w", path, err))
		}
	}
	addRel("sources.salesforce", c.Sources.Salesforce.Validate())
	addRel("sources.hubspot", c.Sources.HubSpot.Validate())
	add("sources.zoom", c.Sources.Zoom.Validate())
	add("sources.graph", c.Sources.Graph.Validate())
	add("sources.aircall", c.Sources.Aircall.Validate())
	add("sources.twilio", c.Sources.Twilio.Validate())
	add("window", c.Window.Validate())
	add("anomaly", c.Anomaly.Validate())
	if f := c.Anomaly.MatrixFile; f != "" {
		m, err := anomaly.LoadMatrix(f)
		if err == nil {
			err = m.Validate()
		}
		add("anomaly.matrix_file", err)
	}
	add("alerts", c.Alerts.Validate())
	return errors.Join(errs...)
}

// prefix puts path in front of err unless err already names it: packages
// start their messages with their own field path ("kafka.brokers: ..."), or
// with their section's last element ("zoom.topic ..." for sources.zoom). A
// joined error is prefixed member by member, so each problem keeps its own
// line and path.
func prefix(path string, err error) error {
	// errors.Join's result: one problem per line. (fmt.Errorf with two %w
	// also unwraps to a slice, but is one problem on one line.)
	if j, ok := err.(interface{ Unwrap() []error }); ok && strings.Contains(err.Error(), "\n") {
		var errs []error
		for _, e := range j.Unwrap() {
			errs = append(errs, prefix(path, e))
		}
		return errors.Join(errs...)
	}
	msg := err.Error()
	// names reports whether msg starts with the key p, not a longer word.
	names := func(p string) bool {
		return strings.HasPrefix(msg, p) && (len(msg) == len(p) || strings.IndexByte(".:[ ", msg[len(p)]) >= 0)
	}
	last := path[strings.LastIndexByte(path, '.')+1:]
	switch {
	case names(path):
		return err
	case last != path && names(last):
		return fmt.Errorf("%s%w", path[:len(path)-len(last)], err)
	}
	return fmt.Errorf("%s: %w", path, err)
}

// checkFile reports whether the file a config key names can be read.
func checkFile(name string) error {
	f, err := os.Open(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: %w", name, ErrNoSuchFile)
	case err != nil:
		return fmt.Errorf("%s: %w: %w", name, ErrUnreadable, err)
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || st.IsDir() {
		return fmt.Errorf("%s: %w: is a directory", name, ErrUnreadable)
	}
	return nil
}

// checkTLSFiles checks that the TLS files under path exist, that the CA file
// holds certificates and that the client certificate loads with its key: a
// typo here otherwise surfaces only as a connection failure after start.
func checkTLSFiles(path, ca, cert, key string, add func(string, error)) {
	if ca != "" {
		if err := checkFile(ca); err != nil {
			add(path+".ca_file", err)
		} else if pem, err := os.ReadFile(ca); err != nil {
			add(path+".ca_file", fmt.Errorf("%s: %w: %w", ca, ErrUnreadable, err))
		} else if !x509.NewCertPool().AppendCertsFromPEM(pem) {
			add(path+".ca_file", fmt.Errorf("%s: %w", ca, ErrNoPEM))
		}
	}
	okCert, okKey := cert != "", key != ""
	if cert != "" {
		if err := checkFile(cert); err != nil {
			add(path+".cert_file", err)
			okCert = false
		}
	}
	if key != "" {
		if err := checkFile(key); err != nil {
			add(path+".key_file", err)
			okKey = false
		}
	}
	if okCert && okKey {
		if _, err := tls.LoadX509KeyPair(cert, key); err != nil {
			add(path, fmt.Errorf("%w: %w", ErrKeyPair, err))
		}
	}
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
		return nil, fmt.Errorf("parse config: %w", withPaths(raw, err))
	}
	c.SetDefaults()
	return &c, nil
}

// withPaths rewrites yaml.v3's "line N: ..." type errors (unknown keys,
// values of the wrong type) to name the key's path, as Validate does:
// "kafka.tls.ca_flie: field ca_flie not found in type kafka.TLSConfig
// (line 12)". Other errors (syntax) pass unchanged.
func withPaths(raw []byte, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	var root yaml.Node
	if yaml.Unmarshal(raw, &root) != nil {
		return err
	}
	paths := map[int]string{} // line -> path of the key (or sequence item) on it
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			for k := 0; k+1 < len(n.Content); k += 2 {
				p := n.Content[k].Value
				if path != "" {
					p = path + "." + p
				}
				if _, ok := paths[n.Content[k].Line]; !ok {
					paths[n.Content[k].Line] = p
				}
				walk(n.Content[k+1], p)
			}
		case yaml.SequenceNode:
			for k, c := range n.Content {
				p := fmt.Sprintf("%s[%d]", path, k)
				if _, ok := paths[c.Line]; !ok {
					paths[c.Line] = p
				}
				walk(c, p)
			}
		}
	}
	walk(&root, "")
	errs := make([]error, 0, len(te.Errors))
	for _, m := range te.Errors {
		var line int
		var rest string
		if n, _ := fmt.Sscanf(m, "line %d:", &line); n == 1 {
			rest = strings.TrimSpace(m[strings.IndexByte(m, ':')+1:])
		}
		if p, ok := paths[line]; ok && rest != "" {
			errs = append(errs, fmt.Errorf("%s: %s (line %d)", p, rest, line))
			continue
		}
		errs = append(errs, errors.New(m))
	}
	return errors.Join(errs...)
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
