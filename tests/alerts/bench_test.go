package alerts_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/salespulse/salespulse/internal/kafkaio"
	"github.com/salespulse/salespulse/pipeline"
	"github.com/salespulse/salespulse/pipeline/anomaly"
	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sinks/alert"
	"github.com/salespulse/salespulse/sources/gen"
)

// BenchmarkConsumeToHookDelivered measures, per alert, the time from the
// triggering event's record being acknowledged by Kafka (so: available to
// consume) to the signed webhook receiving the alert: source batching
// (linger 5ms), the anomaly stage, producing to sales.alerts, the
// dispatcher's consume, route and signed HTTP POST. ClickHouse is left
// out: when cmd writes ClickHouse before producing the alerts, its insert
// time adds to this. Run:
//
//	go test -run '^$' -bench ConsumeToHook -benchtime 200x ./tests/alerts/
func BenchmarkConsumeToHookDelivered(b *testing.B) {
	c := newCluster(b)
	org := gen.NewOrg(gen.DefaultConfig())
	idx := schemas.NewIndex(org)
	matrix, err := anomaly.LoadMatrix("testdata/matrix.yml")
	if err != nil {
		b.Fatal(err)
	}
	det, err := anomaly.New(anomaly.Config{}, matrix, idx, anomaly.Deps{}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	prod := newProducer(b, c)
	startPipeline(b, c, det, &countingSink{sinks: []pipeline.Sink{kafkaio.NewAlertProducer(prod.cl, "sales.alerts")}})
	rc := newReceiver(b, func(r *http.Request, body []byte) ([]string, error) {
		m, err := alert.Decode(body)
		if err != nil {
			return nil, err
		}
		return []string{m.EventIDs[0]}, nil
	})
	startDispatcher(b, c, alert.Config{Hooks: []alert.HookConfig{{
		Name: "bench", Type: alert.HookWebhook, URL: rc.srv.URL, Secret: secret, RatePerSecond: 100000,
	}}}, nil)

	rep := "rep-01-03" // an AE of the default org
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	var lat []time.Duration
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n++
		at = at.Add(time.Second)
		q := schemas.Interaction{
			EventID: fmt.Sprintf("bench-%d", n), OccurredAt: at, Source: "gen", Type: schemas.TypeQuoteCreated, Channel: schemas.ChannelCRM,
			RepID: rep, TeamID: "team-01", AccountID: fmt.Sprintf("acc-%d", n), Currency: "EUR",
			Has: schemas.HasDiscount | schemas.HasListPrice | schemas.HasAmount, DiscountPct: 40, ListPrice: 10000, Amount: 6000,
		}
		key := []byte(q.AccountID)
		if err := prod.cl.ProduceSync(b.Context(), recordFor(key, &q)).FirstErr(); err != nil {
			b.Fatal(err)
		}
		acked := time.Now()
		for {
			select {
			case id := <-rc.seen:
				if id != q.EventID {
					continue // an earlier iteration's second transition
				}
			case <-time.After(10 * time.Second):
				b.Fatalf("alert for %s not delivered", q.EventID)
			}
			break
		}
		lat = append(lat, time.Since(acked))
	}
	slices.Sort(lat)
	pq := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	b.ReportMetric(float64(pq(0.5).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(pq(0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	b.Logf("%d alerts: p50 %v p99 %v max %v", len(lat), pq(0.5), pq(0.99), lat[len(lat)-1])
}
