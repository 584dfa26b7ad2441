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

	"github.com/salespulse/salespulse/internal/console"
	"github.com/salespulse/salespulse/internal/ingress"
	"github.com/salespulse/salespulse/internal/kafkaio"
	"github.com/salespulse/salespulse/pipeline"
	"github.com/salespulse/salespulse/pipeline/anomaly"
	"github.com/salespulse/salespulse/pipeline/anomaly/dealscore"
	"github.com/salespulse/salespulse/pipeline/anomaly/matrix"
	"github.com/salespulse/salespulse/pipeline/leads"
	"github.com/salespulse/salespulse/pipeline/privacy"
	"github.com/salespulse/salespulse/pipeline/window"
	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sinks/alert"
	"github.com/salespulse/salespulse/sinks/clickhouse"
	"github.com/salespulse/salespulse/sources"
	"github.com/salespulse/salespulse/sources/canonical"
	"github.com/salespulse/salespulse/sources/kafka"
)

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
	OrgFile string `yaml:"org_file"`
	// Sources holds one section per vendor of sources.Vendors, keyed by
	// its name: sources.<vendor> in the file. ParseConfig decodes each
	// section strictly into the vendor's own config type (sources.go);
	// SetDefaults adds the sections the file leaves out.
	Sources map[string]*SourceConfig `yaml:"-"`
	// Window configures event-time KBIs: watermarks, lateness, expiry,
	// business-hours calendars and the state changelog topic.
	Window window.Config `yaml:"window"`
	// Anomaly tunes the detectors; anomaly.matrix_file is the discount
	// authorization matrix (docs/alerts.md).
	Anomaly anomaly.Config `yaml:"anomaly"`
	// Alerts names the alerts topic and the hooks that page managers.
	Alerts alert.Config `yaml:"alerts"`
	// State is where the window and anomaly stages keep their state: one
	// compacted topic, fenced per input partition (docs/state.md).
	State kafkaio.StateConfig `yaml:"state"`
	// Leads routes every interaction through the internal lead topics so
	// that a lead and its touches from every system meet in one partition
	// (docs/leads.md).
	Leads leads.Config `yaml:"leads"`
	// Ingest is the webhook ingress: vendors post to /webhooks/<vendor>,
	// bodies go to the vendors' topics (docs/ingest.md). Off unless
	// ingest.listen is set.
	Ingest ingress.Config `yaml:"ingest"`
	// Console is the sales console: a read-only JSON API and the browser
	// UI (docs/console.md). Off unless console.listen is set.
	Console console.Config `yaml:"console"`
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
	// ErrAckTopic: alerts.ack.topic is no kafka.topics entry with the
	// canonical decoder (or there is none to default to), so the pipeline
	// would never read the acknowledgements.
	ErrAckTopic = errors.New("must be a kafka.topics topic with the canonical decoder")
	// ErrNoAnomalyStage: an alerts setting that needs the detectors, with
	// pipeline.stages leaving them out: nothing would raise an alert.
	ErrNoAnomalyStage = errors.New("set, but pipeline.stages has no anomaly stage: nothing raises alerts")
)

// leadHop reports whether the internal lead topics run (docs/leads.md):
// unless leads.disabled, and only for the window, which pairs a lead with
// its touches from every system there. An ingest-only deployment
// (pipeline.stages [privacy]) stores the raw rows in the ingest flow alone.
func (c *Config) leadHop() bool {
	return !c.Leads.Disabled && c.Pipeline.Runs(pipeline.StageWindow)
}

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
	// Before Kafka's own defaults: without kafka.topics, the topics are
	// the vendors' (sources.<vendor>.topic).
	c.setSourceDefaults()
	c.Kafka.SetDefaults()
	c.Pipeline.SetDefaults()
	c.Window.SetDefaults()
	c.Anomaly.SetDefaults()
	c.Alerts.SetDefaults()
	c.Console.SetDefaults()
	if a := &c.Alerts.Ack; a.Topic == "" {
		// The first canonical source topic: acknowledgements are canonical
		// events, read by the pipeline like the rest.
		for _, t := range slices.Sorted(maps.Keys(c.Kafka.Topics)) {
			if c.Kafka.Topics[t] == canonical.Name {
				a.Topic = t
				break
			}
		}
	}
	c.State.SetDefaults()
	// The lead topics belong to the consumer group, as Kafka Streams names
	// its repartition topics after the application id: two deployments
	// (or test runs) on one cluster must not read each other's.
	if c.Leads.ContactsTopic == "" {
		c.Leads.ContactsTopic = c.Kafka.Group + ".contacts"
	}
	if c.Leads.LeadsTopic == "" {
		c.Leads.LeadsTopic = c.Kafka.Group + ".leads"
	}
	c.Leads.SetDefaults()
	c.Ingest.SetDefaults()
	// Privacy's defaults are left to privacy.New (and Validate, on its own
	// copy): whether the file names a key at all is what salespulse dev
	// decides its dev key on, and the default key source would hide it.
}

// Validate returns every problem found in c, which SetDefaults has filled,
// each prefixed by its path in the file, joined: an operator fixes them all
// in one round.
// errTopicTaken: an internal lead topic is also used for something else.
var errTopicTaken = errors.New("is already a source, dead-letter, state or alerts topic")

func (c *Config) Validate() error {
	_, err := c.validate(true)
	return err
}

// files are what the config's file keys name, read by validate: New uses
// them, so a start reads and parses each file once.
type files struct {
	org    *schemas.Org     // org_file; nil without one
	matrix *matrix.Matrix   // anomaly.matrix_file; nil without one
	deals  *dealscore.Model // anomaly.deal_risk.model_file; nil without one
}

// validate skips the privacy key check when the caller supplies its own
// pseudonymiser (the benchmarks use the dev key). It returns the files it
// read.
func (c *Config) validate(privacyKey bool) (files, error) {
	var f files
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
		dec := c.Kafka.Topics[topic]
		if _, ok := sources.Lookup(dec); !ok && dec != "" { // "": reported by kafka.Validate
			add("kafka.topics."+topic, fmt.Errorf("%q: %w (want one of %s)", dec, ErrUnknownDecoder, strings.Join(sources.Names(), ", ")))
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
		} else if o, err := LoadOrg(c.OrgFile); err != nil {
			add("org_file", err)
		} else {
			f.org = o
		}
	}
	errs = append(errs, c.validateSources()...)
	add("window", c.Window.Validate())
	add("anomaly", c.Anomaly.Validate())
	add("state", c.State.Validate())
	if c.leadHop() {
		add("leads", c.Leads.Validate(c.Window.AllowedLateness, c.Window.LeadExpiry))
		for key, t := range map[string]string{"contacts_topic": c.Leads.ContactsTopic, "leads_topic": c.Leads.LeadsTopic} {
			if _, ok := c.Kafka.Topics[t]; ok || t == c.Kafka.DeadLetterTopic || t == c.State.Topic || t == c.Alerts.Topic {
				add("leads", fmt.Errorf("leads.%s %q: %w", key, t, errTopicTaken))
			}
		}
	}
	if name := c.Anomaly.MatrixFile; name != "" {
		m, err := matrix.Load(name)
		if err == nil {
			err = m.Validate()
		}
		add("anomaly.matrix_file", err)
		if err == nil {
			f.matrix = m
		}
	}
	if name := c.Anomaly.DealRisk.ModelFile; name != "" && !c.Anomaly.DealRisk.Disabled {
		m, err := LoadDealModel(name)
		add("anomaly.deal_risk.model_file", err)
		f.deals = m
	}
	add("alerts", c.Alerts.Validate())
	if a := c.Alerts.Ack; a.Enabled() && c.Kafka.Topics[a.Topic] != canonical.Name {
		add("alerts.ack.topic", fmt.Errorf("%q: %w", a.Topic, ErrAckTopic))
	}
	if !c.Pipeline.Runs(pipeline.StageAnomaly) {
		// Refused rather than ignored: a deployment that expects pages
		// must not start without them.
		if len(c.Alerts.Hooks) > 0 {
			add("alerts.hooks", ErrNoAnomalyStage)
		}
		if c.Alerts.Ack.Enabled() {
			add("alerts.ack.listen", ErrNoAnomalyStage)
		}
	}
	add("ingest", c.Ingest.Validate(webhookVendors()))
	add("console", c.Console.Validate())
	errs = append(errs, c.validateIngestTopics()...)
	checkTLSFiles("ingest.tls", "", c.Ingest.TLS.CertFile, c.Ingest.TLS.KeyFile, add)
	if err := errors.Join(errs...); err != nil {
		return files{}, err
	}
	return f, nil
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
	f := newConfigFile()
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	// An empty file is an all-defaults config (yaml.v3 reports it as EOF).
	if err := dec.Decode(f.ptr()); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parse config: %w", withPaths(raw, f.renameTypes(err)))
	}
	c := f.config()
	c.SetDefaults()
	return c, nil
}

// movedKeys says what to do with keys that older releases accepted, so
// that `config validate` on an old file explains the upgrade instead of
// only rejecting the key.
var movedKeys = map[string]string{
	"window.changelog_topic":       "the window and anomaly stages share one state store; set state.topic (docs/state.md), and keep this topic as the first entry of state.legacy_topics so open leads and approvals are migrated on first start",
	"anomaly.changelog_topic":      "the window and anomaly stages share one state store; set state.topic (docs/state.md), and keep this topic as the second entry of state.legacy_topics so open leads, quotes, approvals and alert states are migrated on first start",
	"window.commit_poll_interval":  "use state.commit_poll_interval (one setting for both stages)",
	"anomaly.commit_poll_interval": "use state.commit_poll_interval (one setting for both stages)",
	"window.restore_timeout":       "use state.restore_timeout (one setting for both stages)",
	"anomaly.restore_timeout":      "use state.restore_timeout (one setting for both stages)",
	"anomaly.out_of_order":         "renamed anomaly.out_of_orderness, like window.out_of_orderness",
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
			if hint, ok := movedKeys[p]; ok {
				rest = "no longer a key: " + hint
			}
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

// LoadDealModel reads a deal score model `salespulse score train` wrote.
func LoadDealModel(name string) (*dealscore.Model, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("load deal score model: %w", err)
	}
	return dealscore.Unmarshal(b)
}
