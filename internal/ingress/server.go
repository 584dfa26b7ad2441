// Package ingress is the webhook server: vendors post their events to
// /webhooks/<vendor>, each request is verified as the vendor documents
// (the vendor folder's webhook.go, through vendorkit.Webhook), and its body
// is produced unchanged to the vendor's topic, where the vendor's decoder
// reads it. A request is answered 2xx only after Kafka acknowledged the
// record, so a vendor that gets no 2xx retries and nothing it was told
// is stored is lost (docs/ingest.md).
package ingress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/sources/vendorkit"
)

// Producer writes one record and returns once Kafka acknowledged it, or
// with ctx's error. It keeps key and value past its return when it gives
// up (kafkaio.WebhookProducer): the server never reuses them.
type Producer interface {
	Produce(ctx context.Context, topic string, key, value []byte) error
}

// Pinger is a Producer that can tell whether Kafka answers: readiness.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Route is one vendor's webhook: its name (the path's last element), the
// topic its decoder reads, and how it verifies.
type Route struct {
	Vendor  string
	Topic   string
	Webhook *vendorkit.Webhook
}

// Server serves the webhook routes.
type Server struct {
	cfg    Config
	public *url.URL // nil: from the request
	routes map[string]*route
	prod   Producer
	log    *slog.Logger
	now    func() time.Time
}

type route struct {
	Route
	secrets [][]byte
	limit   *bucket
	brk     *breaker
	m       *vendorMetrics
	// warned is the unix second of the last produce-error log line: an
	// outage fails every request, and one line a second says as much as
	// thousands.
	warned atomic.Int64
}

// New builds the server for cfg (defaulted and validated) with one route
// per routes entry that cfg.Vendors enables. now is the clock stale
// timestamps and rate limits are judged by (time.Now in production).
func New(cfg Config, routes []Route, p Producer, reg prometheus.Registerer, log *slog.Logger, now func() time.Time) (*Server, error) {
	secrets, err := cfg.secrets()
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("ingress metrics: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, routes: map[string]*route{}, prod: p, log: log.With("component", "ingress"), now: now}
	if cfg.PublicURL != "" {
		if s.public, err = url.Parse(cfg.PublicURL); err != nil {
			return nil, fmt.Errorf("ingest.public_url: %w", err)
		}
	}
	for _, r := range routes {
		vc := cfg.Vendors[r.Vendor]
		if vc == nil || r.Webhook == nil {
			continue
		}
		if r.Topic == "" {
			return nil, fmt.Errorf("ingest.vendors.%s: no topic is routed to this vendor's decoder", r.Vendor)
		}
		rt := &route{Route: r, secrets: secrets[r.Vendor], limit: newBucket(vc.Rate, vc.Burst), m: m.vendor(r.Vendor)}
		rt.brk = &breaker{onOpen: func(open bool) {
			if open {
				rt.m.down.Set(1)
				s.log.Warn("kafka taken as down: answering 503 without producing until a probe is acknowledged", "vendor", r.Vendor, "topic", r.Topic, "shed_after", cfg.ShedAfter)
				return
			}
			rt.m.down.Set(0)
			s.log.Info("kafka acknowledges again: producing", "vendor", r.Vendor, "topic", r.Topic)
		}}
		s.routes[r.Vendor] = rt
	}
	for name := range cfg.Vendors {
		if s.routes[name] == nil {
			return nil, fmt.Errorf("ingest.vendors.%s: %w", name, ErrUnknown)
		}
	}
	return s, nil
}

// Handler serves POST /webhooks/{vendor}.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /webhooks/{vendor}", s.serve)
	return mux
}

// Ready reports whether Kafka answers, when the producer can tell: a
// replica that cannot produce would answer every webhook 503.
func (s *Server) Ready(ctx context.Context) error {
	p, ok := s.prod.(Pinger)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := p.Ping(ctx); err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	return nil
}

// Run serves on ln until ctx ends, then stops taking requests and waits
// (up to the produce timeout and a margin) for those in flight: each is
// waiting for Kafka, and cutting it would answer nothing to a request
// whose record may be stored — the vendor's retry would then duplicate
// it, which is harmless, but a clean stop avoids it. The Kafka client
// must close after Run returns.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      s.cfg.ProduceTimeout + 30*time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() {
		var err error
		if s.cfg.TLS.CertFile != "" {
			err = srv.ServeTLS(ln, s.cfg.TLS.CertFile, s.cfg.TLS.KeyFile)
		} else {
			err = srv.Serve(ln)
		}
		errc <- err
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("ingress: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ProduceTimeout+5*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) {
		err = errors.Join(err, e)
	}
	if err != nil {
		return fmt.Errorf("ingress shutdown: %w", err)
	}
	return nil
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	rt := s.routes[r.PathValue("vendor")]
	if rt == nil {
		http.NotFound(w, r)
		return
	}
	start := s.now()
	res := s.handle(w, r, rt, start)
	rt.m.requests[res].Inc()
	rt.m.duration[res.outcome].Observe(s.now().Sub(start).Seconds())
	if res != rAccepted && res != rHandshake {
		// Never the body, nor headers: both may carry personal data.
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "webhook refused", slog.String("vendor", rt.Vendor), slog.String("reason", res.name), slog.String("remote", r.RemoteAddr))
	}
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request, rt *route, now time.Time) reason {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	if !rt.limit.allow(now) {
		h.Set("Retry-After", "1")
		http.Error(w, "rate limited", http.StatusTooManyRequests)
		return rRateLimited
	}
	if r.ContentLength > s.cfg.MaxBodyBytes {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return rTooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return rTooLarge
		}
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return rMalformed
	}
	wr := &vendorkit.WebhookRequest{Method: r.Method, URL: s.publicURL(r), Header: r.Header, Body: body, Secrets: rt.secrets, Now: now}
	if rt.Webhook.Handshake != nil {
		reply, err := rt.Webhook.Handshake(wr)
		if err != nil {
			return refuse(w, err)
		}
		if reply != nil {
			h.Set("Content-Type", reply.ContentType)
			w.Write(reply.Body)
			return rHandshake
		}
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !slices.Contains(rt.Webhook.ContentTypes, mt) {
		http.Error(w, "unsupported content type", http.StatusUnsupportedMediaType)
		return rContentType
	}
	if err := rt.Webhook.Verify(wr); err != nil {
		return refuse(w, err)
	}
	var key []byte
	if rt.Webhook.Key != nil {
		key = rt.Webhook.Key(body)
	}
	// Verified first: a bad signature is 401 and a handshake is answered
	// whether Kafka is up or not.
	ok, probe := rt.brk.admit()
	if !ok {
		s.retryAfter(h)
		http.Error(w, "kafka unavailable, retry later", http.StatusServiceUnavailable)
		return rKafkaDown
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.ProduceTimeout)
	defer cancel()
	// The stall opens the breaker while this request still waits: the
	// requests behind it are shed from then on, not after its timeout.
	stall := time.AfterFunc(s.cfg.ShedAfter, func() { rt.brk.failed(s.now(), probe) })
	err = s.prod.Produce(ctx, rt.Topic, key, body)
	stalled := !stall.Stop()
	if err == nil {
		rt.brk.acked(now, probe)
	} else if !stalled {
		rt.brk.failed(s.now(), probe)
	}
	if err != nil {
		res := rKafkaError
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			res = rTimeout
			rt.m.produceTimeout.Inc()
		} else {
			rt.m.produceE.Inc()
		}
		if sec := now.Unix(); rt.warned.Swap(sec) != sec {
			s.log.LogAttrs(r.Context(), slog.LevelWarn, "webhook not acknowledged by kafka", slog.String("vendor", rt.Vendor), slog.String("topic", rt.Topic), slog.Any("err", err))
		}
		s.retryAfter(h)
		http.Error(w, "kafka unavailable, retry later", http.StatusServiceUnavailable)
		return res
	}
	code := rt.Webhook.Accepted
	if code == 0 {
		code = http.StatusOK
	}
	w.WriteHeader(code)
	return rAccepted
}

func (s *Server) retryAfter(h http.Header) {
	h.Set("Retry-After", strconv.Itoa(int(max(1, s.cfg.RetryAfter.Round(time.Second)/time.Second))))
}

// refuse answers a failed verification: 401 for signatures and stale
// timestamps, 400 for a body or header that cannot be read.
func refuse(w http.ResponseWriter, err error) reason {
	res := rBadSignature
	switch {
	case errors.Is(err, vendorkit.ErrMalformed):
		http.Error(w, "malformed request", http.StatusBadRequest)
		return rMalformed
	case errors.Is(err, vendorkit.ErrNoSignature):
		res = rNoSignature
	case errors.Is(err, vendorkit.ErrStale):
		res = rStale
	}
	// The same text for every 401: the reason is for the operator's
	// metric, not for a prober.
	http.Error(w, "unauthorized", http.StatusUnauthorized)
	return res
}

// publicURL is the URL the vendor posted to: ingest.public_url's scheme,
// host and path prefix, then the path and query as received.
func (s *Server) publicURL(r *http.Request) *url.URL {
	var base string
	switch {
	case s.public != nil:
		base = s.public.Scheme + "://" + s.public.Host + trimSlash(s.public.EscapedPath())
	case r.TLS != nil:
		base = "https://" + r.Host
	default:
		base = "http://" + r.Host
	}
	u, err := url.Parse(base + r.URL.RequestURI())
	if err != nil {
		return r.URL
	}
	return u
}

func trimSlash(p string) string {
	for len(p) > 0 && p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	return p
}
