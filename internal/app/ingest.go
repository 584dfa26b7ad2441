package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/internal/ingress"
	"github.com/salespulse/salespulse/internal/kafkaio"
	"github.com/salespulse/salespulse/sources"
)

// Ingress is the webhook server (internal/ingress) with its Kafka
// producer and listener: what `salespulse ingest` runs alone, and `run`
// and `dev` beside the pipeline when ingest.listen is set.
type Ingress struct {
	srv  *ingress.Server
	prod *kafkaio.WebhookProducer
	ln   net.Listener
}

// webhookVendors names the vendors that have a webhook, in Vendors order.
func webhookVendors() []string {
	var names []string
	for _, v := range sources.Vendors() {
		if v.Webhook != nil {
			names = append(names, v.Name)
		}
	}
	return names
}

// ingressRoutes gives each vendor with a webhook the topic its decoder
// reads: sources.<vendor>.topic, else the first topic kafka.topics routes
// to it. A vendor no topic is routed to gets none, which ingress.New
// refuses for an enabled vendor: its bodies would be read by nobody.
func ingressRoutes(cfg Config) []ingress.Route {
	var routes []ingress.Route
	for _, v := range sources.Vendors() {
		if v.Webhook == nil {
			continue
		}
		topic := ""
		if sc := cfg.Sources[v.Name]; sc != nil && sc.Topic != "" && cfg.Kafka.Topics[sc.Topic] == v.Name {
			topic = sc.Topic
		} else {
			for _, t := range slices.Sorted(maps.Keys(cfg.Kafka.Topics)) {
				if cfg.Kafka.Topics[t] == v.Name {
					topic = t
					break
				}
			}
		}
		routes = append(routes, ingress.Route{Vendor: v.Name, Topic: topic, Webhook: v.Webhook})
	}
	return routes
}

// ValidateIngest checks what `salespulse ingest` uses of cfg (defaulted):
// the log, http, kafka, sources and ingest sections, with ingest.listen
// required. ClickHouse, privacy and the stages' sections are not its
// business.
func (c *Config) ValidateIngest() error {
	var errs []error
	add := func(path string, err error) {
		if err != nil {
			errs = append(errs, prefix(path, err))
		}
	}
	if c.Ingest.Listen == "" {
		add("ingest.listen", ErrIngestListen)
	}
	if _, _, err := net.SplitHostPort(c.HTTP.Addr); err != nil {
		add("http.addr", fmt.Errorf("%q: %w", c.HTTP.Addr, ErrHTTPAddr))
	}
	add("kafka", c.Kafka.Validate())
	errs = append(errs, c.validateSources()...)
	add("ingest", c.Ingest.Validate(webhookVendors()))
	errs = append(errs, c.validateIngestTopics()...)
	checkTLSFiles("ingest.tls", "", c.Ingest.TLS.CertFile, c.Ingest.TLS.KeyFile, add)
	return errors.Join(errs...)
}

// Errors of the ingest section that need the rest of the config.
var (
	// ErrIngestListen: `salespulse ingest` without ingest.listen.
	ErrIngestListen = errors.New("required by salespulse ingest")
	// ErrIngestNoTopic: a vendor is enabled in ingest.vendors but
	// kafka.topics routes no topic to its decoder, so nothing would read
	// what the ingress writes.
	ErrIngestNoTopic = errors.New("no topic is routed to this vendor's decoder (kafka.topics)")
)

// validateIngestTopics reports enabled vendors without a topic.
func (c *Config) validateIngestTopics() []error {
	var errs []error
	for _, r := range ingressRoutes(*c) {
		if _, on := c.Ingest.Vendors[r.Vendor]; on && r.Topic == "" {
			errs = append(errs, fmt.Errorf("ingest.vendors.%s: %w", r.Vendor, ErrIngestNoTopic))
		}
	}
	return errs
}

// NewIngress connects the producer, binds ingest.listen and builds the
// server; cfg is defaulted and validated. Nothing is served until Run.
func NewIngress(cfg Config, reg prometheus.Registerer, log *slog.Logger) (_ *Ingress, err error) {
	conn, err := cfg.Kafka.ConnOpts()
	if err != nil {
		return nil, fmt.Errorf("ingress: %w", err)
	}
	// No kprom hook: kprom unregisters its metrics when a hooked client
	// closes, and this client closes independently of the source's.
	prod, err := kafkaio.NewWebhookProducer(conn)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			prod.Close()
		}
	}()
	srv, err := ingress.New(cfg.Ingest, ingressRoutes(cfg), prod, reg, log, time.Now)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Ingest.Listen)
	if err != nil {
		return nil, fmt.Errorf("ingest.listen: %w", err)
	}
	return &Ingress{srv: srv, prod: prod, ln: ln}, nil
}

// Addr is the address the webhooks are served on.
func (i *Ingress) Addr() string { return i.ln.Addr().String() }

// Ready reports whether Kafka answers.
func (i *Ingress) Ready(ctx context.Context) error { return i.srv.Ready(ctx) }

// Run serves until ctx ends, lets the requests in flight finish (each
// waits for Kafka's acknowledgement or its timeout), then closes the
// producer: after the server, because those requests need it.
func (i *Ingress) Run(ctx context.Context) error {
	defer i.prod.Close()
	return i.srv.Run(ctx, i.ln)
}

// Close releases an Ingress that will not Run.
func (i *Ingress) Close() {
	i.ln.Close()
	i.prod.Close()
}
