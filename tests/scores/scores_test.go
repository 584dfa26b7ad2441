// Package scores drives generated deals through the whole product on
// embedded services — kfake → Kafka source → lead routing → anomaly
// stage → ClickHouse sink → chDB over HTTP — and checks that the deal
// features ClickHouse holds are exactly those the feature code computes
// from the same events (dealscore.TestFeaturesMatchBruteForce holds that
// code to a brute-force count), that training on them reproduces the
// model file byte for byte, and that deal_at_risk alerts with reasons
// reach the alerts table.
package scores

import (
	"cmp"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/internal/app"
	"github.com/salespulse/salespulse/internal/devstack"
	"github.com/salespulse/salespulse/internal/testenv"
	"github.com/salespulse/salespulse/pipeline/anomaly/dealscore"
	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/gen"
)

func TestDealScoresEndToEnd(t *testing.T) {
	testenv.RequireCHDB(t)
	ctx := t.Context()
	dir := t.TempDir()

	// A model trained on other generated days.
	tc := gen.DefaultConfig()
	tc.Seed, tc.Days, tc.Teams = 11, 90, 2
	ex, err := app.GeneratedDealExamples(tc)
	if err != nil {
		t.Fatal(err)
	}
	m, err := dealscore.Train(ex, dealscore.TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := m.Marshal()
	modelFile := filepath.Join(dir, "model.json")
	if err := os.WriteFile(modelFile, mb, 0o644); err != nil {
		t.Fatal(err)
	}

	// The deal events of 45 days of one team: what an account's
	// partition gets. Contacts are dropped so the touches take the
	// direct route (see docs/scores.md on the contact hop).
	gc := gen.DefaultConfig()
	gc.Seed, gc.Days, gc.Teams = 21, 45, 1
	g, err := gen.New(gc)
	if err != nil {
		t.Fatal(err)
	}
	tr := dealscore.NewTracker()
	var recs []*kgo.Record
	var i schemas.Interaction
	for {
		if _, ok := g.Next(&i); !ok {
			break
		}
		i.Normalize()
		if !dealscore.Relevant(&i) {
			continue
		}
		i.Contact = schemas.Contact{}
		tr.Apply(&i)
		recs = append(recs, &kgo.Record{Topic: "sales.canonical", Key: []byte(i.AccountID), Value: schemas.AppendJSON(nil, &i)})
	}
	if len(tr.Examples) < 200 {
		t.Fatalf("only %d closed deals generated", len(tr.Examples))
	}

	st, err := devstack.Start(ctx, devstack.Config{
		DataDir: filepath.Join(dir, "stack"), KafkaAddr: "127.0.0.1:0", ClickHouseAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		Partitions: 4, Gen: gc,
		App: func() app.Config {
			var c app.Config
			c.Anomaly.DealRisk.ModelFile = modelFile
			return c
		}(),
	}, nil)
	if err != nil {
		t.Fatalf("start stack: %v", err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- st.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Logf("stack stopped with: %v", err)
		}
	})

	cl, err := kgo.NewClient(kgo.SeedBrokers(st.KafkaAddrs()...), kgo.ProducerBatchMaxBytes(8<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}

	db := clickhouse.OpenDB(&clickhouse.Options{Addr: []string{st.ClickHouseAddr()}, Protocol: clickhouse.HTTP})
	defer db.Close()
	count := func(q string) int {
		var n uint64
		if err := db.QueryRow(q).Scan(&n); err != nil {
			return -1
		}
		return int(n)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for count("SELECT count() FROM salespulse.deal_features WHERE event IN ('won', 'lost')") < len(tr.Examples) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %d of %d closes in deal_features", count("SELECT count() FROM salespulse.deal_features WHERE event IN ('won', 'lost')"), len(tr.Examples))
		}
		time.Sleep(200 * time.Millisecond)
	}

	// What training reads is exactly what the feature code computes.
	chCfg := app.Config{}
	chCfg.ClickHouse.Addresses, chCfg.ClickHouse.Protocol = []string{st.ClickHouseAddr()}, "http"
	chCfg.ClickHouse.SetDefaults()
	got, err := app.ReadDealExamples(ctx, chCfg.ClickHouse, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	want := append([]dealscore.Example(nil), tr.Examples...)
	byClose := func(a, b dealscore.Example) int {
		return cmp.Or(cmp.Compare(a.At, b.At), cmp.Compare(a.ID, b.ID))
	}
	slices.SortFunc(got, byClose)
	slices.SortFunc(want, byClose)
	a, err := dealscore.Train(got, dealscore.TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := dealscore.Train(want, dealscore.TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("ClickHouse has %d closes, the feature code %d", len(got), len(want))
	}
	for k := range got {
		if got[k] != want[k] {
			t.Fatalf("close %d:\n ClickHouse %+v\n computed   %+v", k, got[k], want[k])
		}
	}
	ja, _ := a.Marshal()
	jb, _ := b.Marshal()
	if string(ja) != string(jb) {
		t.Fatal("the model trained on ClickHouse's rows differs from the one trained on the computed features")
	}

	scores := count("SELECT count() FROM salespulse.deal_scores WHERE length(reasons) > 0 AND model_id = '" + m.ID() + "'")
	var alerts int
	var reasons string
	deadline = time.Now().Add(time.Minute)
	for {
		if err := db.QueryRow("SELECT count(), any(values['reasons']) FROM salespulse.alerts WHERE rule = 'deal_at_risk' AND state = 'firing'").Scan(&alerts, &reasons); err != nil {
			t.Fatal(err)
		}
		if alerts > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("%d closes, %d scores, %d deal_at_risk firing; e.g. %q", len(got), scores, alerts, reasons)
	if scores == 0 || alerts == 0 || !strings.Contains(reasons, "(−") {
		t.Fatalf("scores %d, deal_at_risk %d, reasons %q", scores, alerts, reasons)
	}
}
