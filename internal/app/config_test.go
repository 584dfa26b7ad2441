package app

import (
	"errors"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/salespulse/salespulse/internal/console"
	"github.com/salespulse/salespulse/internal/ingress"
	"github.com/salespulse/salespulse/pipeline"
	"github.com/salespulse/salespulse/pipeline/leads"
	"github.com/salespulse/salespulse/pipeline/privacy"
	"github.com/salespulse/salespulse/sinks/alert"
	"github.com/salespulse/salespulse/sinks/clickhouse"
	"github.com/salespulse/salespulse/sources"
	"github.com/salespulse/salespulse/sources/kafka"
	"github.com/salespulse/salespulse/sources/salesforce"
)

// testEnv sets the secrets the good files read from the environment, so a
// bad file fails only for the mistake it was written to show.
func testEnv(t *testing.T) {
	t.Helper()
	t.Setenv("SALESPULSE_PRIVACY_KEY", "0123456789abcdef0123456789abcdef-config-test")
	t.Setenv("SALESPULSE_TEST_KAFKA_PASSWORD", "secret")
	t.Setenv("SALESPULSE_TEST_UNSET_PASSWORD", "")
	t.Setenv("SALESPULSE_TEST_ACK_TOKEN", "ack-token")
	t.Setenv("SALESPULSE_TEST_SLACK_SECRET", "slack-secret")
	t.Setenv("SALESPULSE_TEST_HUBSPOT_SECRET", "hubspot-client-secret")
	t.Setenv("SALESPULSE_TEST_CONSOLE_PASSWORD", "console-password")
}

// loadAndValidate is what `salespulse config validate FILE` does.
func loadAndValidate(file string) error {
	c, err := LoadConfig(file)
	if err != nil {
		return err
	}
	return c.Validate()
}

func TestGoodConfigs(t *testing.T) {
	testEnv(t)
	files, err := filepath.Glob("testdata/*.good.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no good configs: %v", err)
	}
	for _, f := range files {
		if err := loadAndValidate(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestGoodConfigValues(t *testing.T) {
	testEnv(t)
	c, err := LoadConfig("testdata/tls_sasl.good.yml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Kafka.BatchLinger.String() != "250ms" || c.Kafka.BatchMaxRows != 20000 || c.Kafka.Topics["sfdc.cdc"] != salesforce.Name {
		t.Errorf("kafka = linger %s, rows %d, topics %v", c.Kafka.BatchLinger, c.Kafka.BatchMaxRows, c.Kafka.Topics)
	}
	if c.ClickHouse.Protocol != "http" || c.ClickHouse.Cluster != "sales_cluster" || c.Pipeline.Workers != 4 {
		t.Errorf("clickhouse/pipeline = %+v %+v", c.ClickHouse, c.Pipeline)
	}
	m, err := LoadConfig("testdata/minimal.good.yml")
	if err != nil {
		t.Fatal(err)
	}
	if m.Log.Format != "json" || m.Log.Level != "info" || m.HTTP.Addr != "127.0.0.1:8080" || len(m.Kafka.Topics) != len(sources.DefaultTopics()) {
		t.Errorf("minimal defaults = log %+v http %+v topics %v", m.Log, m.HTTP, m.Kafka.Topics)
	}
	// The hop's flows linger less than the ingest flow (leads.batch_linger).
	if m.Kafka.BatchLinger != 500*time.Millisecond || m.Leads.BatchLinger != 150*time.Millisecond {
		t.Errorf("minimal lingers = kafka %s, leads %s; want 500ms and 150ms", m.Kafka.BatchLinger, m.Leads.BatchLinger)
	}
	for _, v := range sources.Vendors() {
		if sc := m.Sources[v.Name]; sc == nil || sc.Topic != v.DefaultTopic || m.Kafka.Topics[v.DefaultTopic] != v.Name {
			t.Errorf("minimal: %s is not consumed from its default topic: %+v, topics %v", v.Name, sc, m.Kafka.Topics)
		}
	}
}

// TestSourceTopicsRoute: without kafka.topics, sources.<vendor>.topic is
// the topic the vendor's decoder consumes; with it, kafka.topics alone
// routes, and a section topic it routes to the same vendor is fine.
func TestSourceTopicsRoute(t *testing.T) {
	testEnv(t)
	c, err := LoadConfig("testdata/sources_topics.good.yml")
	if err != nil {
		t.Fatal(err)
	}
	want := sources.DefaultTopics()
	delete(want, "sales.zoom")
	delete(want, "sales.salesforce")
	want["zoom.webhooks"], want["sfdc.cdc"] = "zoom", "salesforce"
	if !maps.Equal(c.Kafka.Topics, want) {
		t.Errorf("kafka.topics = %v, want %v", c.Kafka.Topics, want)
	}
	if sf := c.Sources["salesforce"].Options.(*salesforce.Config); len(sf.WonStages) != 2 || len(sf.LostStages) != 1 {
		t.Errorf("salesforce options = %+v", sf)
	}
	// New applies the defaults again: the result must not change.
	c.SetDefaults()
	if err := c.Validate(); err != nil || !maps.Equal(c.Kafka.Topics, want) {
		t.Errorf("defaults applied twice: %v, topics %v", err, c.Kafka.Topics)
	}

	g, err := LoadConfig("testdata/tls_sasl.good.yml") // kafka.topics and sources.salesforce.topic agree
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Kafka.Topics) != 2 || g.Sources["zoom"].Topic != "" {
		t.Errorf("with kafka.topics: topics %v, zoom section %+v", g.Kafka.Topics, g.Sources["zoom"])
	}
}

// TestBadConfigs: each broken file is rejected with every problem it has,
// each naming its path. want lists the expected lines of the error (each
// a prefix of one line), all of them and no others.
func TestBadConfigs(t *testing.T) {
	testEnv(t)
	tests := []struct {
		file string
		want []string
		is   []error // sentinels errors.Is must find
	}{
		{"no_brokers.bad.yml", []string{"kafka.brokers: at least one broker is required"}, []error{kafka.ErrNoBrokers}},
		{"unknown_key.bad.yml", []string{"parse config: kafka.tls.ca_flie: field ca_flie not found in type kafka.TLSConfig (line 5)"}, nil},
		{"old_changelog_keys.bad.yml", []string{
			"parse config: window.changelog_topic: no longer a key: the window and anomaly stages share one state store; set state.topic (docs/state.md), and keep this topic as the first entry of state.legacy_topics so open leads and approvals are migrated on first start (line 6)",
			"window.restore_timeout: no longer a key: use state.restore_timeout (one setting for both stages) (line 7)",
			"anomaly.out_of_order: no longer a key: renamed anomaly.out_of_orderness, like window.out_of_orderness (line 9)",
			"anomaly.changelog_topic: no longer a key: the window and anomaly stages share one state store; set state.topic (docs/state.md), and keep this topic as the second entry of state.legacy_topics so open leads, quotes, approvals and alert states are migrated on first start (line 10)",
			"anomaly.commit_poll_interval: no longer a key: use state.commit_poll_interval (one setting for both stages) (line 11)",
		}, nil},
		{"duration.bad.yml", []string{"parse config: kafka.batch_linger: cannot unmarshal !!str `soon` into time.Duration (line 3)"}, nil},
		{"ca_missing.bad.yml", []string{"kafka.tls.ca_file: testdata/tls/missing-ca.pem: no such file"}, []error{ErrNoSuchFile}},
		{"ca_not_pem.bad.yml", []string{"clickhouse.tls.ca_file: testdata/tls/not-a-cert.pem: no PEM certificates in file"}, []error{ErrNoPEM}},
		{"tls_disabled.bad.yml", []string{"kafka.tls.ca_file: set, but tls.enabled is false"}, []error{ErrTLSDisabled}},
		{"key_pair_mismatch.bad.yml", []string{"kafka.tls: cert_file and key_file are not a valid key pair: tls: private key does not match public key"}, []error{ErrKeyPair}},
		{"sasl_no_username.bad.yml", []string{"kafka.sasl: username and password (or password_env) are required"}, []error{kafka.ErrCredentials}},
		{"sasl_mechanism.bad.yml", []string{`kafka.sasl.mechanism "GSSAPI": must be "PLAIN", "SCRAM-SHA-256" or "SCRAM-SHA-512"`}, []error{kafka.ErrMechanism}},
		{"sasl_password_env_unset.bad.yml", []string{"kafka.sasl.password_env: $SALESPULSE_TEST_UNSET_PASSWORD: environment variable is unset or empty"}, []error{ErrPasswordEnv}},
		{"clickhouse_protocol.bad.yml", []string{`clickhouse.protocol: must be "native" or "http" (got grpc)`}, []error{clickhouse.ErrProtocol}},
		{"clickhouse_cert_without_key.bad.yml", []string{"clickhouse.tls: cert_file and key_file must be set together"}, []error{clickhouse.ErrTLSKeyPair}},
		{"unknown_decoder.bad.yml", []string{`kafka.topics.sales.pipedrive: "pipedrive": unknown decoder`}, []error{ErrUnknownDecoder}},
		{"leads.bad.yml", []string{
			`leads.hold 30m0s: must not exceed window.allowed_lateness (10m0s)`,
			`leads.contacts_topic "sales.canonical": is already a source, dead-letter, state or alerts topic`,
		}, []error{leads.ErrHoldLarge, errTopicTaken}},
		{"leads_linger.bad.yml", []string{"leads.batch_linger: must be > 0"}, []error{leads.ErrPositive}},
		{"dead_letter_loop.bad.yml", []string{`kafka.dead_letter_topic "sales.canonical": dead-letter topic must not be a consumed topic`}, []error{kafka.ErrDeadLetterLoop}},
		{"privacy_key_short.bad.yml", []string{"privacy.key.file: key shorter than 32 bytes (got 9)"}, []error{privacy.ErrKeyTooShort}},
		{"privacy_key_file_missing.bad.yml", []string{"privacy.key.file: cannot read key file: open testdata/missing.key: no such file or directory"}, []error{privacy.ErrReadKeyFile}},
		{"log_format.bad.yml", []string{`log.format: "yaml": must be "json" or "text"`, `log.level: "verbose": must be debug, info, warn or error`}, []error{ErrLogFormat, ErrLogLevel}},
		{"org_file_missing.bad.yml", []string{"org_file: testdata/missing-org.yml: no such file"}, []error{ErrNoSuchFile}},
		{"ack.bad.yml", []string{
			"alerts.ack.token_env: required when listen is not a loopback address",
			`alerts.ack.topic: "": must be a kafka.topics topic with the canonical decoder`,
		}, []error{alert.ErrAckToken, ErrAckTopic}},
		{"console.bad.yml", []string{
			`console.auth.mode: must be "bearer" or "basic" when console.listen is not a loopback address`,
			"console.max_execution_time: 1.5s: must be whole seconds, at least 1s",
			"console.max_rows: must be positive",
		}, []error{console.ErrAuthRequired, console.ErrWholeSeconds, console.ErrPositive}},
		{"console_auth.bad.yml", []string{
			"console.auth.user: required with basic auth",
			"console.auth.password: set exactly one of the _env and _file keys",
		}, []error{console.ErrUser, console.ErrSecretSource}},
		{"console_secret.bad.yml", []string{
			"console.auth.token: SALESPULSE_TEST_UNSET_PASSWORD: environment variable is unset or empty",
		}, []error{console.ErrSecretEnv}},
		{"console_mode.bad.yml", []string{
			`console.listen: "8090": must be host:port`,
			`console.auth.mode: "oauth": must be "none", "bearer" or "basic"`,
		}, []error{console.ErrListen, console.ErrMode}},
		{"http_addr.bad.yml", []string{`http.addr: "8080": must be host:port`}, []error{ErrHTTPAddr}},
		{"sources.bad.yml", []string{
			`sources.salesforce.won_stages[0] "Closed Won": stage is both won and lost`,
			`sources.zoom.topic "zoom events": invalid kafka topic name`,
		}, nil},
		{"topic_conflict.bad.yml", []string{
			`sources.zoom.topic "sales.zoom" conflicts with kafka.topics: kafka.topics.sales.zoom routes it to the graph decoder; remove sources.zoom.topic, or route the topic to zoom in kafka.topics`,
		}, []error{ErrTopicConflict}},
		{"topic_not_routed.bad.yml", []string{
			"sources.hubspot.topic \"hs.webhooks\" conflicts with kafka.topics: kafka.topics is given and does not list the topic, so nothing would read it; add `hs.webhooks: hubspot` to kafka.topics, or remove kafka.topics to consume every sources.<vendor>.topic",
		}, []error{ErrTopicConflict}},
		{"topic_shared.bad.yml", []string{
			`sources.aircall.topic "sales.calls" is also the topic of another vendor (sources.zoom.topic): give each vendor its own topic`,
		}, []error{ErrTopicShared}},
		{"ingest.bad.yml", []string{
			`ingest.listen: "8443": must be host:port`,
			`ingest.public_url: "hooks.example.com": must be an absolute http or https URL without query`,
			"ingest.tls: cert_file and key_file must be given together",
			"ingest.produce_timeout: must be positive",
			"ingest.shed_after: must be positive",
			"ingest.vendors.aircall.secret_env: one of secret_env and secret_file is required",
			"ingest.vendors.hubspot.secret_env: $SALESPULSE_TEST_UNSET_PASSWORD: environment variable is unset or empty",
			"ingest.vendors.salesforce: no such vendor with a webhook (want one of canonical, hubspot, zoom, graph, aircall, twilio)",
			"ingest.vendors.zoom.secret_file: give the secret by env or by file, not both",
			"ingest.tls.cert_file: testdata/tls/missing-cert.pem: no such file",
		}, []error{ingress.ErrListen, ingress.ErrPublicURL, ingress.ErrTLSPair, ingress.ErrPositive, ingress.ErrNoSecret, ingress.ErrSecretEnv, ingress.ErrUnknown, ingress.ErrSecretTwice, ErrNoSuchFile}},
		{"ingest_topic.bad.yml", []string{
			"ingest.vendors.zoom: no topic is routed to this vendor's decoder (kafka.topics)",
		}, []error{ErrIngestNoTopic}},
		{"unknown_vendor.bad.yml", []string{
			"parse config: sources.zoom.topc: field topc not found in sources.zoom (line 5)",
			"sources.pipedrive: field pipedrive not found in sources (vendors: canonical, salesforce, hubspot, zoom, graph, aircall, twilio, signals, smarte, specter) (line 6)",
		}, nil},
		{"stages_unknown.bad.yml", []string{
			`pipeline.stages[1]: "windows": unknown stage (want privacy, window, anomaly)`,
		}, []error{pipeline.ErrUnknownStage}},
		{"stages_no_privacy.bad.yml", []string{
			"pipeline.stages: privacy is required: without it raw contact data would reach ClickHouse and the lead topics, where no erasure finds it",
		}, []error{pipeline.ErrPrivacyRequired}},
		{"stages_not_a_list.bad.yml", []string{
			"parse config: pipeline.stages: cannot unmarshal !!str `privacy` into []string (line 4)",
		}, nil},
		{"ingest_only_alerts.bad.yml", []string{
			"alerts.hooks: set, but pipeline.stages has no anomaly stage: nothing raises alerts",
			"alerts.ack.listen: set, but pipeline.stages has no anomaly stage: nothing raises alerts",
		}, []error{ErrNoAnomalyStage}},
		{"every_problem.bad.yml", []string{
			"kafka.brokers: at least one broker is required",
			"kafka.max_in_flight_batches 100 (max 64): out of range",
			`kafka.start_offset "beginning": must be "earliest" or "latest"`,
			"kafka.sasl: username and password (or password_env) are required",
			`clickhouse.protocol: must be "native" or "http" (got tcp)`,
			"clickhouse.database: must be a plain identifier",
			"clickhouse.read_timeout: must not be negative (got -1s)",
			"pipeline.workers: must be >= 0",
		}, []error{kafka.ErrNoBrokers, kafka.ErrStartOffset, clickhouse.ErrProtocol, clickhouse.ErrNegative}},
	}
	files, _ := filepath.Glob("testdata/*.bad.yml")
	var covered []string
	for _, tt := range tests {
		covered = append(covered, filepath.Join("testdata", tt.file))
		t.Run(tt.file, func(t *testing.T) {
			err := loadAndValidate(filepath.Join("testdata", tt.file))
			if err == nil {
				t.Fatal("accepted")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Errorf("got %d problems, want %d:\n%v", len(lines), len(tt.want), err)
			}
			for _, w := range tt.want {
				if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, w) }) {
					t.Errorf("missing %q in:\n%v", w, err)
				}
			}
			for _, s := range tt.is {
				if !errors.Is(err, s) {
					t.Errorf("errors.Is(%v) = false for:\n%v", s, err)
				}
			}
		})
	}
	for _, f := range files {
		if !slices.Contains(covered, f) {
			t.Errorf("%s has no expectation in the table", f)
		}
	}
}

func TestPrefix(t *testing.T) {
	f := func(path, msg, want string) {
		t.Helper()
		if got := prefix(path, errors.New(msg)).Error(); got != want {
			t.Errorf("prefix(%q, %q) = %q, want %q", path, msg, got, want)
		}
	}
	f("kafka", "kafka.brokers: x", "kafka.brokers: x")
	f("sources.zoom", `zoom.topic "": x`, `sources.zoom.topic "": x`)
	f("org_file", "read org file: x", "org_file: read org file: x")
	f("log", "logger: x", "log: logger: x")
	j := prefix("sources.graph", errors.Join(errors.New("graph.topic: a"), errors.New("b")))
	if got := j.Error(); got != "sources.graph.topic: a\nsources.graph: b" {
		t.Errorf("joined = %q", got)
	}
}

// The packages' own defaults fill the app's config: the app repeats none.
// Privacy is the exception, on purpose: salespulse dev must see whether the
// file names a key.
func TestSetDefaultsUsesThePackagesDefaults(t *testing.T) {
	var c Config
	c.SetDefaults()
	if c.Alerts.Topic != "sales.alerts" || c.Alerts.ParkTopic != "sales.alerts.parked" || c.Kafka.DeadLetterTopic != "sales.dlq" {
		t.Errorf("topics = alerts %q, parked %q, dead letters %q", c.Alerts.Topic, c.Alerts.ParkTopic, c.Kafka.DeadLetterTopic)
	}
	if c.Pipeline.Workers != 2 || c.Pipeline.Queue != 4 {
		t.Errorf("pipeline = %+v", c.Pipeline)
	}
	if c.Privacy.Key != (privacy.KeyRef{}) {
		t.Errorf("privacy key defaulted to %+v: dev could no longer tell that the file names none", c.Privacy.Key)
	}
}

// validate reads the org and matrix files once and hands New what it read.
func TestValidateReturnsTheFilesItRead(t *testing.T) {
	testEnv(t)
	c, err := ParseConfig([]byte("kafka: {brokers: [k:9092]}\nclickhouse: {addresses: [c:9000]}\norg_file: testdata/org.yml\nanomaly: {matrix_file: ../../deploy/examples/authorization-matrix.yml}\n"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.validate(true)
	if err != nil {
		t.Fatal(err)
	}
	want, err := LoadOrg("testdata/org.yml")
	if err != nil {
		t.Fatal(err)
	}
	if f.org == nil || len(f.org.Teams) != len(want.Teams) || len(want.Teams) == 0 || f.org.Teams[0].ID != want.Teams[0].ID {
		t.Errorf("org = %+v, want the org file's %+v", f.org, want)
	}
	if f.matrix == nil {
		t.Error("matrix not returned")
	}
	c.OrgFile = "testdata/missing-org.yml"
	if f, err := c.validate(true); err == nil || f.org != nil || f.matrix != nil {
		t.Errorf("an invalid config returned files %+v (err %v)", f, err)
	}
}

// alerts.ack.topic defaults to the canonical source topic, and the
// secrets are read from the environment.
func TestAckDefaults(t *testing.T) {
	testEnv(t)
	c, err := LoadConfig("testdata/ack.good.yml")
	if err != nil {
		t.Fatal(err)
	}
	c.SetDefaults()
	if a := c.Alerts.Ack; a.Topic != "sales.canonical" || a.Token != "ack-token" || a.SlackSigningSecret != "slack-secret" {
		t.Fatalf("%+v", a)
	}
}
