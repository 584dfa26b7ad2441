package ingress

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
)

// Config is the ingest: section (docs/configuration.md, docs/ingest.md).
type Config struct {
	// Listen is the webhook server's host:port; "" (the default) runs no
	// ingress in `run` and `dev`. `salespulse ingest` requires it.
	Listen string `yaml:"listen"`
	// PublicURL is scheme://host[:port][/prefix] as the vendors address
	// this server: HubSpot and Twilio sign the full URL they post to, which
	// a TLS-terminating proxy or load balancer changes. Default: the
	// scheme this server serves and the request's Host header.
	PublicURL string `yaml:"public_url"`
	// TLS serves HTTPS when both files are set.
	TLS TLSConfig `yaml:"tls"`
	// MaxBodyBytes is the largest body accepted (413 beyond); default
	// 1 MiB. HubSpot's 100-event batches are well under 100 KiB. It must
	// also stay below the topic's max.message.bytes, or Kafka refuses the
	// record and every retry of it.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// ProduceTimeout is how long a request waits for Kafka's
	// acknowledgement before it is answered 503; default 5s, under every
	// vendor's response deadline (Graph: 3 s for notifications is a soft
	// target; HubSpot, Zoom, Aircall, Twilio: 10–15 s).
	ProduceTimeout time.Duration `yaml:"produce_timeout"`
	// ShedAfter is how long a record may wait for Kafka's acknowledgement
	// before its topic is taken as down: from then on the topic's requests
	// are answered 503 at once, without producing, until a probe request's
	// record is acknowledged (docs/ingest.md, "Kafka down"). Default 1s or
	// produce_timeout, whichever is shorter; at most produce_timeout. Far
	// above a healthy acks=all round trip (milliseconds), far below what a
	// vendor's delivery workers can wait at thousands of requests a second.
	ShedAfter time.Duration `yaml:"shed_after"`
	// RetryAfter is the Retry-After of a 503, default 30s. Vendors
	// retry on their own schedule; the header is advice.
	RetryAfter time.Duration `yaml:"retry_after"`
	// Vendors enables one route per key, /webhooks/<vendor>: hubspot,
	// zoom, aircall, twilio, graph, canonical. A vendor not listed has no
	// route (404).
	Vendors map[string]*VendorConfig `yaml:"vendors"`
}

// TLSConfig is the server's certificate.
type TLSConfig struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// VendorConfig is one ingest.vendors.<vendor> entry.
type VendorConfig struct {
	// Rate is the sustained requests per second accepted (429 beyond),
	// default 100; Burst the requests accepted at once, default 2 × Rate.
	Rate  float64 `yaml:"rate"`
	Burst int     `yaml:"burst"`
	// The vendor's secret (HubSpot client secret, Zoom secret token,
	// Aircall webhook token, Twilio auth token, Graph clientState, the
	// canonical HMAC key), from an environment variable or a file (a
	// Kubernetes secret volume; one trailing newline is dropped). Exactly
	// one of the two.
	SecretEnv  string `yaml:"secret_env"`
	SecretFile string `yaml:"secret_file"`
	// The previous secret during a rotation, optional: both are accepted
	// until it is removed.
	PreviousSecretEnv  string `yaml:"previous_secret_env"`
	PreviousSecretFile string `yaml:"previous_secret_file"`
}

// Defaults.
const (
	DefaultMaxBodyBytes   = 1 << 20
	DefaultProduceTimeout = 5 * time.Second
	DefaultRetryAfter     = 30 * time.Second
	DefaultShedAfter      = time.Second
	DefaultRate           = 100
)

// SetDefaults fills what the file left out.
func (c *Config) SetDefaults() {
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.ProduceTimeout == 0 {
		c.ProduceTimeout = DefaultProduceTimeout
	}
	if c.RetryAfter == 0 {
		c.RetryAfter = DefaultRetryAfter
	}
	if c.ShedAfter == 0 {
		c.ShedAfter = DefaultShedAfter
		if c.ProduceTimeout > 0 {
			c.ShedAfter = min(c.ShedAfter, c.ProduceTimeout)
		}
	}
	for _, v := range c.Vendors {
		if v == nil {
			continue
		}
		if v.Rate == 0 {
			v.Rate = DefaultRate
		}
		if v.Burst == 0 {
			v.Burst = max(1, int(2*v.Rate))
		}
	}
}

// Validation errors.
var (
	ErrListen       = errors.New("must be host:port")
	ErrPublicURL    = errors.New("must be an absolute http or https URL without query")
	ErrTLSPair      = errors.New("cert_file and key_file must be given together")
	ErrPositive     = errors.New("must be positive")
	ErrShedAfter    = errors.New("must not exceed produce_timeout")
	ErrNoVendors    = errors.New("listen is set but no vendor is enabled")
	ErrUnknown      = errors.New("no such vendor with a webhook")
	ErrNoSecret     = errors.New("one of secret_env and secret_file is required")
	ErrSecretTwice  = errors.New("give the secret by env or by file, not both")
	ErrSecretEnv    = errors.New("environment variable is unset or empty")
	ErrSecretFile   = errors.New("cannot read secret file")
	ErrSecretEmpty  = errors.New("secret file is empty")
	ErrSecretShared = errors.New("previous secret equals the current one")
)

// Validate checks c after SetDefaults. webhooks names the vendors that
// have a webhook (sources.Vendors with a Webhook). Secrets are read here
// too, so a missing variable or file fails the start, not the first
// request. Errors name the key relative to the file ("ingest.vendors.zoom.secret_env: ...").
func (c *Config) Validate(webhooks []string) error {
	var errs []error
	add := func(path string, err error) { errs = append(errs, fmt.Errorf("ingest.%s: %w", path, err)) }
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			add("listen", fmt.Errorf("%q: %w", c.Listen, ErrListen))
		}
		if len(c.Vendors) == 0 {
			add("vendors", ErrNoVendors)
		}
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			add("public_url", fmt.Errorf("%q: %w", c.PublicURL, ErrPublicURL))
		}
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		add("tls", ErrTLSPair)
	}
	if c.MaxBodyBytes <= 0 {
		add("max_body_bytes", ErrPositive)
	}
	if c.ProduceTimeout <= 0 {
		add("produce_timeout", ErrPositive)
	}
	if c.RetryAfter <= 0 {
		add("retry_after", ErrPositive)
	}
	if c.ShedAfter <= 0 {
		add("shed_after", ErrPositive)
	} else if c.ShedAfter > c.ProduceTimeout && c.ProduceTimeout > 0 {
		add("shed_after", ErrShedAfter)
	}
	for _, name := range slices.Sorted(maps.Keys(c.Vendors)) {
		v := c.Vendors[name]
		p := "vendors." + name
		if !slices.Contains(webhooks, name) {
			add(p, fmt.Errorf("%w (want one of %s)", ErrUnknown, strings.Join(webhooks, ", ")))
			continue
		}
		if v == nil {
			add(p+".secret_env", ErrNoSecret)
			continue
		}
		if v.Rate <= 0 {
			add(p+".rate", ErrPositive)
		}
		if v.Burst <= 0 {
			add(p+".burst", ErrPositive)
		}
		cur, err := readSecret(v.SecretEnv, v.SecretFile, true)
		if err != nil {
			add(p+".secret_"+err.key, err.err)
		}
		prev, err := readSecret(v.PreviousSecretEnv, v.PreviousSecretFile, false)
		if err != nil {
			add(p+".previous_secret_"+err.key, err.err)
		}
		if cur != nil && string(cur) == string(prev) {
			add(p+".previous_secret_env", ErrSecretShared)
		}
	}
	return errors.Join(errs...)
}

// secrets returns each vendor's accepted secrets, current first. Call it
// after Validate.
func (c *Config) secrets() (map[string][][]byte, error) {
	out := map[string][][]byte{}
	for name, v := range c.Vendors {
		cur, err := readSecret(v.SecretEnv, v.SecretFile, true)
		if err != nil {
			return nil, fmt.Errorf("ingest.vendors.%s.secret_%s: %w", name, err.key, err.err)
		}
		s := [][]byte{cur}
		prev, err := readSecret(v.PreviousSecretEnv, v.PreviousSecretFile, false)
		if err != nil {
			return nil, fmt.Errorf("ingest.vendors.%s.previous_secret_%s: %w", name, err.key, err.err)
		}
		if prev != nil {
			s = append(s, prev)
		}
		out[name] = s
	}
	return out, nil
}

type secretError struct {
	key string // "env" or "file"
	err error
}

// readSecret reads a secret from the variable env or the file; nil
// without either when not required.
func readSecret(env, file string, required bool) ([]byte, *secretError) {
	switch {
	case env != "" && file != "":
		return nil, &secretError{"file", ErrSecretTwice}
	case env != "":
		v := os.Getenv(env)
		if v == "" {
			return nil, &secretError{"env", fmt.Errorf("$%s: %w", env, ErrSecretEnv)}
		}
		return []byte(v), nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, &secretError{"file", fmt.Errorf("%w: %w", ErrSecretFile, err)}
		}
		b = []byte(strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r"))
		if len(b) == 0 {
			return nil, &secretError{"file", fmt.Errorf("%s: %w", file, ErrSecretEmpty)}
		}
		return b, nil
	case required:
		return nil, &secretError{"env", ErrNoSecret}
	}
	return nil, nil
}
