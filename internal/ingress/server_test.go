package ingress_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/salespulse/salespulse/internal/ingress"
	"github.com/salespulse/salespulse/sources/canonical"
)

func canonicalBody(n int) []byte {
	return fmt.Appendf(nil, `{"event_id":"ing-%d","occurred_at":"2026-11-03T09:59:00Z","source":"crm","type":"lead.created","lead_id":"L-%d","rep_id":"rep-1"}`, n, n)
}

func signed(body []byte) []string {
	return []string{canonical.SignatureHeader, canonical.Sign([]byte(secrets["canonical"][0]), body, now.Unix())}
}

func TestLimits(t *testing.T) {
	h := newHarness(t, func(c *ingress.Config) {
		c.MaxBodyBytes = 200
		c.Vendors["canonical"].Rate, c.Vendors["canonical"].Burst = 1, 3
	})
	const p, js = "/webhooks/canonical", "application/json"
	big := []byte(`{"pad":"` + strings.Repeat("x", 300) + `"}`)
	body := canonicalBody(1)
	// The clock does not move: the bucket of 3 is not refilled.
	run(t, h, "canonical", "sales.canonical", []tcase{
		{name: "over max_body_bytes", target: p, contentType: js, body: big, headers: signed(big), code: 413, reason: "too_large"},
		{name: "text/plain", target: p, contentType: "text/plain", body: body, headers: signed(body), code: 415, reason: "content_type"},
		{name: "within the burst", target: p, contentType: "application/json; charset=utf-8", body: body, headers: signed(body), code: 200, reason: "ok", key: "L-1"},
		{name: "beyond the burst", target: p, contentType: js, body: body, headers: signed(body), code: 429, reason: "rate_limited"},
	})
	// Other vendors have their own bucket.
	if r := h.post("/webhooks/aircall", js, []byte(`{"token":"x"}`)); r.code != 401 {
		t.Errorf("aircall after canonical's limit: %d", r.code)
	}
	if r := h.post("/webhooks/salesforce", js, body); r.code != 404 {
		t.Errorf("salesforce (no webhook): %d, want 404", r.code)
	}
	if r := h.post("/webhooks/nosuch", js, body); r.code != 404 {
		t.Errorf("unknown vendor: %d, want 404", r.code)
	}
}

// While Kafka does not acknowledge, requests are answered 503 with
// Retry-After once ingest.produce_timeout has passed; once it does again,
// requests are accepted. Every request answered 2xx is in the topic,
// byte for byte; bodies answered 503 may be there too (the vendor retries
// them; the sink dedups by event id), never fewer.
func TestKafkaUnavailable(t *testing.T) {
	h := newHarness(t, func(c *ingress.Config) {
		c.ProduceTimeout = 300 * time.Millisecond
		c.RetryAfter = 7 * time.Second
		// The clock stands still, so the bucket never refills: the
		// retries below, answered 503 at once while the breaker is open,
		// must not run into the rate limit.
		c.Vendors["canonical"].Rate, c.Vendors["canonical"].Burst = 1e6, 1e6
	})
	if err := h.ing.Ready(context.Background()); err != nil {
		t.Fatalf("ready with kafka up: %v", err)
	}
	var down atomic.Bool
	down.Store(true)
	// A broker that drops every produce request's connection: the client
	// retries until the request's deadline.
	h.cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		h.cluster.KeepControl()
		if down.Load() {
			return nil, errors.New("broker unavailable"), true
		}
		return nil, nil, false
	})
	const p, js = "/webhooks/canonical", "application/json"
	var mu sync.Mutex
	ok := map[string]bool{}
	var unavailable int
	post := func(n int) int {
		body := canonicalBody(n)
		r := h.post(p, js, body, signed(body)...)
		mu.Lock()
		defer mu.Unlock()
		switch r.code {
		case 200:
			ok[string(body)] = true
		case 503:
			unavailable++
			if r.header.Get("Retry-After") != "7" {
				t.Errorf("503 with Retry-After %q, want 7", r.header.Get("Retry-After"))
			}
		default:
			t.Errorf("status %d", r.code)
		}
		return r.code
	}
	var wg sync.WaitGroup
	for n := range 10 {
		wg.Go(func() { post(n) })
	}
	wg.Wait()
	if unavailable != 10 {
		t.Fatalf("%d of 10 answered 503 while kafka refused every produce", unavailable)
	}
	if got := requests(t, h, "canonical", "kafka_timeout"); got != 10 {
		t.Errorf("kafka_timeout requests = %v", got)
	}
	down.Store(false)
	// As a vendor does, each of the next bodies is retried until
	// accepted: the client may still be backing off from the outage.
	deadline := time.Now().Add(15 * time.Second)
	for n := 10; n < 20; n++ {
		wg.Go(func() {
			for post(n) != 200 && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	if len(ok) != 10 {
		t.Fatalf("%d of 10 accepted within 15 s of kafka coming back", len(ok))
	}
	// Read everything the topic got: the accepted bodies must all be there.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	seen := map[string]bool{}
	for missing := len(ok); missing > 0 && ctx.Err() == nil; {
		for _, r := range h.cl.PollFetches(ctx).Records() {
			if ok[string(r.Value)] && !seen[string(r.Value)] {
				missing--
			}
			seen[string(r.Value)] = true
		}
	}
	for b := range ok {
		if !seen[b] {
			t.Errorf("answered 200 but not in the topic: %s", b)
		}
	}
	t.Logf("%d accepted, %d answered 503, %d distinct bodies in the topic", len(ok), unavailable, len(seen))

	h.cluster.Close()
	if err := h.ing.Ready(context.Background()); err == nil {
		t.Error("ready with the cluster closed")
	}
}

var _ = strconv.Itoa

// While a topic is taken as down, requests are answered 503 at once
// without producing (counted as kafka_down), not after produce_timeout;
// one probe at a time produces, and its acknowledgement ends the
// shedding.
func TestShedWhileKafkaDown(t *testing.T) {
	const timeout = 5 * time.Second
	h := newHarness(t, func(c *ingress.Config) {
		c.ProduceTimeout = timeout
		c.ShedAfter = 100 * time.Millisecond
		c.RetryAfter = 3 * time.Second
		c.Vendors["canonical"].Rate, c.Vendors["canonical"].Burst = 1e6, 1e6
	})
	var down atomic.Bool
	down.Store(true)
	h.cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		h.cluster.KeepControl()
		if down.Load() {
			return nil, errors.New("broker unavailable"), true
		}
		return nil, nil, false
	})
	const p, js = "/webhooks/canonical", "application/json"
	post := func(n int) response {
		body := canonicalBody(n)
		return h.post(p, js, body, signed(body)...)
	}
	gauge := func() float64 {
		t.Helper()
		mfs, err := h.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "salespulse_ingest_kafka_down" {
				for _, m := range mf.GetMetric() {
					if m.GetLabel()[0].GetValue() == "canonical" {
						return m.GetGauge().GetValue()
					}
				}
			}
		}
		t.Fatal("no salespulse_ingest_kafka_down{vendor=canonical}")
		return 0
	}
	if gauge() != 0 {
		t.Fatal("kafka_down before any produce")
	}
	// The first request's record stalls past shed_after: it keeps waiting
	// (the probe, too, is held by the broker), the topic is down.
	first := make(chan response, 1)
	go func() { first <- post(0) }()
	deadline := time.Now().Add(timeout)
	for gauge() != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if gauge() != 1 {
		t.Fatal("kafka_down not set while a record stalls")
	}
	// Now one request probes (and waits); the others are shed at once.
	probe := make(chan response, 1)
	go func() { probe <- post(1) }()
	time.Sleep(20 * time.Millisecond)
	start := time.Now()
	for n := 2; n < 12; n++ {
		r := post(n)
		if r.code != 503 || r.header.Get("Retry-After") != "3" {
			t.Errorf("request %d while down: %d Retry-After %q, want 503 and 3", n, r.code, r.header.Get("Retry-After"))
		}
	}
	if d := time.Since(start); d >= timeout {
		t.Errorf("10 shed requests took %s: they waited for kafka", d)
	}
	if got := requests(t, h, "canonical", "kafka_down"); got < 10 {
		t.Errorf("kafka_down requests = %v, want ≥ 10", got)
	}
	// Kafka is back: the stalled records are acknowledged, the breaker
	// closes, and requests are accepted again.
	down.Store(false)
	if r := <-first; r.code != 200 && r.code != 503 {
		t.Errorf("first request: %d", r.code)
	}
	<-probe
	accepted := false
	for n := 12; n < 200 && !accepted; n++ {
		accepted = post(n).code == 200
		if !accepted {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !accepted {
		t.Fatal("no request accepted after kafka came back")
	}
	if gauge() != 0 {
		t.Error("kafka_down still set after an acknowledgement")
	}
}
