// Package ingress checks the webhook ingress end to end on embedded
// services: signed HubSpot, Aircall and Zoom webhooks posted to
// `salespulse` (app.New with ingest.listen, kfake, chDB) become normalised
// interactions in ClickHouse.
package ingress

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/salespulse/salespulse/internal/app"
	"github.com/salespulse/salespulse/internal/devstack"
	"github.com/salespulse/salespulse/internal/ingress"
	"github.com/salespulse/salespulse/internal/testenv"
	"github.com/salespulse/salespulse/schemas"
)

// The org the payloads name: HubSpot user 4242, the Zoom host of the
// shared fixture, Aircall user 456 (the vendor packages' test orgs).
var org = &schemas.Org{
	Teams: []schemas.Team{{ID: "team-na", ManagerID: "rep-dee"}, {ID: "team-emea", ManagerID: "rep-ada"}},
	Reps: []schemas.Rep{
		{ID: "rep-dee", TeamID: "team-na", HubSpotUserIDs: []string{"4242"}},
		{ID: "rep-ada", TeamID: "team-emea", ZoomUserIDs: []string{"uLoRgfbbTayCX6r2Q_qQsQ"}, AircallUserIDs: []string{"456"}},
	},
}

const (
	hubspotSecret = "e2e-hubspot-client-secret"
	zoomSecret    = "e2e-zoom-secret-token"
	aircallToken  = "df76g76dpziygs567f0" // the token in the Aircall payloads
)

func TestWebhooksReachClickHouse(t *testing.T) {
	testenv.RequireCHDB(t)
	t.Setenv("E2E_HUBSPOT_SECRET", hubspotSecret)
	t.Setenv("E2E_ZOOM_SECRET", zoomSecret)
	t.Setenv("E2E_AIRCALL_TOKEN", aircallToken)
	dir := t.TempDir()
	st, err := devstack.Start(context.Background(), devstack.Config{
		DataDir: dir, KafkaAddr: "127.0.0.1:0", ClickHouseAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", Partitions: 2,
		App: app.Config{Ingest: ingress.Config{Listen: "127.0.0.1:0", Vendors: map[string]*ingress.VendorConfig{
			"hubspot": {SecretEnv: "E2E_HUBSPOT_SECRET"},
			"zoom":    {SecretEnv: "E2E_ZOOM_SECRET"},
			"aircall": {SecretEnv: "E2E_AIRCALL_TOKEN"},
		}}},
		Options: app.Options{Org: org},
	}, nil)
	if err != nil {
		t.Fatalf("start stack: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("stack stopped with: %v", err)
		}
	})
	base := "http://" + st.App().IngressAddr()
	waitFor(t, "readiness (ClickHouse and Kafka answering)", 30*time.Second, func() bool {
		r, err := http.Get("http://" + st.HTTPAddr() + "/readyz")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == 200
	})

	now := time.Now()
	// HubSpot v3 (https://developers.hubspot.com/docs/api/webhooks/validating-requests).
	hs := read(t, "../../sources/hubspot/testdata/contact_creation_retry_and_owner.json")
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	m := hmac.New(sha256.New, []byte(hubspotSecret))
	m.Write([]byte("POST" + base + "/webhooks/hubspot" + string(hs) + ts))
	post(t, base+"/webhooks/hubspot", hs, 200, "X-HubSpot-Signature-v3", base64.StdEncoding.EncodeToString(m.Sum(nil)), "X-HubSpot-Request-Timestamp", ts)

	// Zoom v0 (https://developers.zoom.us/docs/api/webhooks/).
	zm := read(t, "/work/shared/fixtures/zoom/meeting_ended.json")
	zts := strconv.FormatInt(now.Unix(), 10)
	m = hmac.New(sha256.New, []byte(zoomSecret))
	m.Write([]byte("v0:" + zts + ":" + string(zm)))
	post(t, base+"/webhooks/zoom", zm, 200, "x-zm-signature", "v0="+hex.EncodeToString(m.Sum(nil)), "x-zm-request-timestamp", zts)

	// Aircall's token (https://developer.aircall.io/api-references/#webhooks).
	ac := read(t, "../../sources/aircall/testdata/call_ended_outbound.json")
	post(t, base+"/webhooks/aircall", ac, 200)

	// A forged one of each is refused and never stored.
	post(t, base+"/webhooks/hubspot", hs, 401, "X-HubSpot-Signature-v3", "AAAA", "X-HubSpot-Request-Timestamp", ts)
	post(t, base+"/webhooks/aircall", bytes.Replace(ac, []byte(aircallToken), []byte("forged"), 1), 401)

	db := clickhouse.OpenDB(&clickhouse.Options{Addr: []string{st.ClickHouseAddr()}, Protocol: clickhouse.HTTP})
	defer db.Close()
	want := map[string]string{ // event id -> type, from the vendors' golden files
		"hs:62515:22:200001":             "lead.created",
		"zoom:czLF6FFFoQOKgAB99DlDb9g==": "meeting.held",
		"aircall:812345678":              "call.outbound",
	}
	waitFor(t, "the three interactions in ClickHouse", 60*time.Second, func() bool {
		return count(t, db, "SELECT uniqExact(event_id) FROM salespulse.interactions") >= 3
	})
	rows, err := db.Query("SELECT event_id, any(type), any(rep_id) FROM salespulse.interactions GROUP BY event_id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]string{}
	for rows.Next() {
		var id, typ, rep string
		if err := rows.Scan(&id, &typ, &rep); err != nil {
			t.Fatal(err)
		}
		got[id] = typ
		if rep == "" {
			t.Errorf("%s has no rep", id)
		}
	}
	if len(got) != len(want) {
		t.Errorf("interactions %v, want %v", got, want)
	}
	for id, typ := range want {
		if got[id] != typ {
			t.Errorf("%s: type %q, want %q", id, got[id], typ)
		}
	}
	if n := testenv.SumMetric(st.Registry(), "salespulse_ingest_requests_total", "outcome", "accepted"); n != 3 {
		t.Errorf("accepted requests = %v, want 3", n)
	}
	if n := testenv.SumMetric(st.Registry(), "salespulse_ingest_requests_total", "outcome", "rejected"); n != 2 {
		t.Errorf("rejected requests = %v, want 2", n)
	}
	if n := testenv.SumMetric(st.Registry(), "salespulse_kafka_dead_letters_total"); n != 0 {
		t.Errorf("dead letters = %v, want 0", n)
	}
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func post(t *testing.T, url string, body []byte, want int, headers ...string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k := 0; k+1 < len(headers); k += 2 {
		req.Header.Set(headers[k], headers[k+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("POST %s: %d, want %d", url, resp.StatusCode, want)
	}
}

func count(t *testing.T, db *sql.DB, q string) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Logf("%s: %v", q, err)
		return 0
	}
	return n
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
