// Package vendors is the end-to-end test of every vendor format: a
// generated day rendered as real vendor payloads (kafkaio.ProduceVendor) and the
// vendor samples (testdata: published ones copied from the shared fixtures,
// and hand-made ones after the vendors' docs, see checkCRMSemantics) go to
// their topics on an in-process Kafka (kfake); the Kafka source with every
// vendor decoder, the pipeline with the privacy stage, and the ClickHouse
// sink take them into the embedded chDB engine. The test then finds exactly
// the expected interactions in salespulse.interactions, and no raw e-mail
// address, phone number, name or subject anywhere in the database.
package vendors

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/embedded/chdb"
	"github.com/salespulse/salespulse/internal/kafkaio"
	"github.com/salespulse/salespulse/pipeline"
	"github.com/salespulse/salespulse/pipeline/privacy"
	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sinks/clickhouse"
	"github.com/salespulse/salespulse/sources"
	"github.com/salespulse/salespulse/sources/gen"
	"github.com/salespulse/salespulse/sources/graph"
	"github.com/salespulse/salespulse/sources/kafka"
)

const (
	database  = "salespulse"
	deadTopic = "sales.dlq"
)

// requireLib gates the test as ch-go's e2e suite does: unset skips when
// libchdb is missing, SALESPULSE_EMBEDDED_TESTS=1/true fails.
func requireLib(t *testing.T) {
	t.Helper()
	p := chdb.ResolveLibPath("")
	if _, err := os.Stat(p); err == nil {
		return
	}
	switch strings.ToLower(os.Getenv("SALESPULSE_EMBEDDED_TESTS")) {
	case "1", "true":
		t.Fatalf("SALESPULSE_EMBEDDED_TESTS is set but libchdb.so is missing at %s: run scripts/fetch-chdb.sh", p)
	default:
		t.Skipf("libchdb.so not found at %s: run scripts/fetch-chdb.sh (SALESPULSE_EMBEDDED_TESTS=1 makes this fatal)", p)
	}
}

// withFixtureRep adds a team whose rep owns the vendor identities the
// published samples use, so those samples decode as they would in an org
// that has them.
func withFixtureRep(org *schemas.Org) *schemas.Org {
	o := &schemas.Org{Teams: append([]schemas.Team(nil), org.Teams...), Reps: append([]schemas.Rep(nil), org.Reps...)}
	o.Teams = append(o.Teams, schemas.Team{ID: "team-fixtures", Name: "Fixtures", ManagerID: "mgr-fixtures"})
	o.Reps = append(o.Reps,
		schemas.Rep{ID: "mgr-fixtures", TeamID: "team-fixtures", Role: gen.RoleManager},
		schemas.Rep{
			ID: "rep-fixtures", TeamID: "team-fixtures", Role: gen.RoleAE,
			SalesforceUserIDs: []string{"005ZM000000M6o1YAC", "005SM000000146PYAQ"},
			ZoomUserIDs:       []string{"uLoRgfbbTayCX6r2Q_qQsQ"},
			Mailboxes:         []string{"adelev@contoso.onmicrosoft.com"},
			AircallUserIDs:    []string{"123"},
			PhoneNumbers:      []string{"+13051416799"},
		})
	return o
}

type decoder interface {
	Decode(dst []schemas.Interaction, value []byte) ([]schemas.Interaction, error)
}

// graphClientStateEnv holds the clientState Graph notifications must carry
// here: the value of Microsoft's samples, which the generator sends too.
const graphClientStateEnv = "SALESPULSE_VENDORS_GRAPH_CLIENT_STATE"

func newDecoders(t *testing.T, idx *schemas.Index, reg prometheus.Registerer) map[string]decoder {
	t.Helper()
	m := map[string]decoder{}
	for _, v := range sources.Vendors() {
		var d decoder
		var err error
		if v.Name == graph.Name {
			// Verified notifications: a forged sample is dead-lettered.
			d, err = v.NewDecoder(&graph.Config{ClientState: []graph.Secret{{Env: graphClientStateEnv}}}, idx, reg)
		} else {
			d, err = v.NewDefaultDecoder(idx, reg)
		}
		if err != nil {
			t.Fatal(err)
		}
		m[v.Name] = d
	}
	return m
}

type payload struct {
	vendor string
	key    []byte
	value  []byte
}

func TestVendorsEndToEnd(t *testing.T) {
	requireLib(t)
	t.Setenv(graphClientStateEnv, "secretClientValue")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))

	cfg := gen.DefaultConfig()
	cfg.Seed, cfg.Teams, cfg.Days = 42, 2, 1
	g, err := gen.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	org := withFixtureRep(g.Org())
	idx := schemas.NewIndex(org)
	topics := map[string]string{} // vendor -> its default topic
	for _, v := range sources.Vendors() {
		topics[v.Name] = v.DefaultTopic
	}

	// What must arrive: the generated records' expectations (a second
	// generator of the same seed renders the same records), and for the
	// published samples whatever the real decoders make of them.
	type key struct{ source, id string }
	want := map[key]schemas.Interaction{}
	add := func(it schemas.Interaction) {
		k := key{it.Source, it.EventID}
		if _, dup := want[k]; dup {
			t.Fatalf("expected event %s/%s twice", it.Source, it.EventID)
		}
		want[k] = it
	}
	var payloads []payload
	g2, _ := gen.New(cfg)
	enc := gen.NewVendorEncoder(g2, true)
	var in schemas.Interaction
	for {
		k, ok := g2.Next(&in)
		if !ok {
			break
		}
		for _, r := range enc.Encode(&in, k) {
			for _, it := range r.Expected {
				add(it)
			}
			payloads = append(payloads, payload{r.Vendor, bytes.Clone(r.Key), bytes.Clone(r.Value)})
		}
	}
	generated := len(payloads)
	local := newDecoders(t, idx, nil)
	var fixtures []payload
	wantDead := 0
	for _, v := range sources.Names() {
		files, _ := filepath.Glob(filepath.Join("testdata", v, "*.json"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out, err := local[v].Decode(nil, b)
			if err != nil {
				wantDead++
				t.Logf("sample %s is dead-lettered: %v", f, err)
			}
			for _, it := range out {
				add(it)
			}
			fixtures = append(fixtures, payload{v, []byte(filepath.Base(f)), b})
		}
	}
	if len(fixtures) == 0 {
		t.Fatal("no samples in testdata")
	}
	payloads = append(payloads, fixtures...)
	personal := personalValues(payloads)
	t.Logf("%d generated records, %d samples, %d expected interactions, %d dead letters, %d personal values",
		generated, len(fixtures), len(want), wantDead, len(personal))

	// Kafka: every vendor topic with the same partition count, so a
	// lead's records share a partition number across topics.
	names := []string{deadTopic}
	for _, tp := range topics {
		names = append(names, tp)
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, names...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	prod, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	n, err := kafkaio.ProduceVendor(ctx, prod, topics, g, kafkaio.ProduceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(generated) {
		t.Fatalf("ProduceVendor acked %d records, the encoder made %d", n, generated)
	}
	for _, p := range fixtures {
		if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topics[p.vendor], Key: p.key, Value: p.value}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	// ClickHouse: one embedded engine for the process, served over HTTP.
	eng, err := chdb.Open(chdb.Config{DataDir: t.TempDir(), Conns: 3})
	if err != nil {
		t.Fatalf("open chdb: %v", err)
	}
	defer eng.Close() // an open chDB connection crashes the process at exit
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srvCtx, stopSrv := context.WithCancel(context.Background())
	srvDone := make(chan struct{})
	go func() {
		defer close(srvDone)
		chdb.NewServer(eng, logger).Serve(srvCtx, ln)
	}()
	defer func() { stopSrv(); <-srvDone }()

	reg := prometheus.NewRegistry()
	sink, err := clickhouse.NewSink(ctx, clickhouse.Config{
		Addresses: []string{ln.Addr().String()}, Protocol: "http", Database: database,
		RetryBackoffMin: 5 * time.Millisecond, RetryBackoffMax: 100 * time.Millisecond,
	}, reg, logger)
	if err != nil {
		t.Fatalf("new sink: %v", err)
	}
	defer sink.Close()

	decs := newDecoders(t, idx, reg)
	srcDecoders := map[string]kafka.Decoder{}
	bound := map[string]string{}
	for v, tp := range topics {
		srcDecoders[tp] = decs[v]
		bound[tp] = v
	}
	src, err := kafka.NewSource(kafka.Config{
		Brokers: cluster.ListenAddrs(), Group: "e2e-vendors", Topics: bound,
		DeadLetterTopic: deadTopic, BatchLinger: 50 * time.Millisecond,
	}, srcDecoders, reg, logger)
	if err != nil {
		t.Fatal(err)
	}
	pz, err := privacy.New(privacy.Config{Key: privacy.DevKey()})
	if err != nil {
		t.Fatal(err)
	}
	stages := func(int) []pipeline.Stage {
		p := pz.Clone() // a Pseudonymizer is not safe for concurrent use
		return []pipeline.Stage{pipeline.StageFunc(func(_ context.Context, b *schemas.Batch) error {
			for k := range b.Interactions {
				p.Apply(&b.Interactions[k])
			}
			for k := range b.Late {
				p.Apply(&b.Late[k])
			}
			return nil
		})}
	}
	pl, err := pipeline.New(pipeline.Config{Workers: 2}, src, stages, sink, reg, logger)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stopRun := context.WithCancel(ctx)
	runErr := make(chan error, 1)
	go func() { runErr <- pl.Run(runCtx) }()

	// Wait until every expected row is stored and every dead letter
	// written, then stop in data-flow order.
	deadline := time.Now().Add(90 * time.Second)
	var rows int
	for {
		rows = countRows(t, eng, "SELECT count() FROM "+database+".interactions")
		if rows >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	dead := readDeadLetters(t, cluster, wantDead)
	stopRun()
	if err := <-runErr; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("pipeline: %v", err)
	}
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	src.Close(cctx)
	ccancel()
	if dead != wantDead {
		t.Errorf("%d dead letters, want %d (the rejected samples; no generated record may be rejected)", dead, wantDead)
	}

	// Exactly the expected interactions.
	out, err := eng.Query(ctx, `SELECT event_id, source, type, direction, channel, rep_id, team_id, account_id, lead_id,
		approval_id, approver_id, stage, currency, toString(toUnixTimestamp64Milli(occurred_at)) AS ms,
		duration_s, amount, list_price, discount_pct, approved, contact_key
		FROM `+database+`.interactions`, "JSONEachRow")
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		EventID     string   `json:"event_id"`
		Source      string   `json:"source"`
		Type        string   `json:"type"`
		Direction   string   `json:"direction"`
		Channel     string   `json:"channel"`
		RepID       string   `json:"rep_id"`
		TeamID      string   `json:"team_id"`
		AccountID   string   `json:"account_id"`
		LeadID      string   `json:"lead_id"`
		ApprovalID  string   `json:"approval_id"`
		ApproverID  string   `json:"approver_id"`
		Stage       string   `json:"stage"`
		Currency    string   `json:"currency"`
		Ms          string   `json:"ms"`
		DurationS   *float64 `json:"duration_s"`
		Amount      *float64 `json:"amount"`
		ListPrice   *float64 `json:"list_price"`
		DiscountPct *float64 `json:"discount_pct"`
		Approved    *bool    `json:"approved"`
		ContactKey  string   `json:"contact_key"`
	}
	seen := map[key]bool{}
	bad := 0
	report := func(format string, args ...any) {
		bad++
		if bad <= 15 {
			t.Errorf(format, args...)
		}
	}
	for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var r row
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("row %s: %v", line, err)
		}
		k := key{r.Source, r.EventID}
		w, ok := want[k]
		if !ok {
			report("unexpected row %s/%s (%s)", r.Source, r.EventID, r.Type)
			continue
		}
		if seen[k] {
			report("row %s/%s stored twice", r.Source, r.EventID)
		}
		seen[k] = true
		ms := r.Ms
		opt := func(name string, got *float64, has bool, v float64) string {
			if has != (got != nil) || has && math.Abs(*got-v) > 1e-9 {
				return fmt.Sprintf("%s: got %v, want present=%v %v", name, deref(got), has, v)
			}
			return ""
		}
		for _, d := range []string{
			diff("type", r.Type, w.Type.String()), diff("direction", r.Direction, w.Type.Direction()),
			diff("channel", r.Channel, w.Channel.String()), diff("rep_id", r.RepID, w.RepID),
			diff("team_id", r.TeamID, w.TeamID), diff("account_id", r.AccountID, w.AccountID),
			diff("lead_id", r.LeadID, w.LeadID), diff("approval_id", r.ApprovalID, w.ApprovalID),
			diff("approver_id", r.ApproverID, w.ApproverID), diff("stage", r.Stage, w.Stage),
			diff("currency", r.Currency, w.Currency), diff("occurred_at", ms, fmt.Sprint(w.OccurredAt.UnixMilli())),
			opt("duration_s", r.DurationS, w.Has&schemas.HasDuration != 0, w.DurationS),
			opt("amount", r.Amount, w.Has&schemas.HasAmount != 0, w.Amount),
			opt("list_price", r.ListPrice, w.Has&schemas.HasListPrice != 0, w.ListPrice),
			opt("discount_pct", r.DiscountPct, w.Has&schemas.HasDiscount != 0, w.DiscountPct),
			diff("approved", fmt.Sprint(r.Approved != nil && *r.Approved, r.Approved != nil),
				fmt.Sprint(w.Approved, w.Has&schemas.HasApproved != 0)),
			diff("contact_key set", fmt.Sprint(r.ContactKey != ""), fmt.Sprint(!w.Contact.IsZero())),
		} {
			if d != "" {
				report("%s/%s (%s): %s", r.Source, r.EventID, r.Type, d)
			}
		}
		if r.ContactKey != "" && !strings.HasPrefix(r.ContactKey, "dev:") {
			report("%s/%s: contact_key %q is not a dev-key pseudonym", r.Source, r.EventID, r.ContactKey)
		}
	}
	missing := 0
	for k, w := range want {
		if !seen[k] {
			missing++
			if missing <= 10 {
				t.Errorf("missing %s/%s (%s)", k.source, k.id, w.Type)
			}
		}
	}
	if missing > 0 || bad > 0 {
		t.Fatalf("%d rows stored, %d expected: %d missing, %d wrong", rows, len(want), missing, bad)
	}
	t.Logf("%d rows in %s.interactions, exactly as expected", rows, database)

	checkCRMSemantics(t, eng)
	checkTouchSemantics(t, eng)

	// No raw personal value anywhere in the database.
	assertNoPersonalData(t, eng, personal)
}

func deref(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}

func diff(name, got, want string) string {
	if got != want {
		return fmt.Sprintf("%s: got %q, want %q", name, got, want)
	}
	return ""
}

func countRows(t *testing.T, eng *chdb.Engine, sql string) int {
	t.Helper()
	out, err := eng.Query(context.Background(), sql, "TabSeparated")
	if err != nil {
		// The table appears with the sink's migrations; until then, zero.
		return 0
	}
	var n int
	fmt.Sscan(string(out), &n)
	return n
}

// readDeadLetters consumes the dead-letter topic until it holds want
// records (or a short wait shows there are no more) and returns the count.
func readDeadLetters(t *testing.T, c *kfake.Cluster, want int) int {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(deadTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	n := 0
	for {
		wait := 3 * time.Second
		if n < want {
			wait = 30 * time.Second
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		fs := cl.PollFetches(ctx)
		cancel()
		if fs.IsClientClosed() || ctx.Err() != nil && fs.NumRecords() == 0 {
			return n
		}
		fs.EachRecord(func(r *kgo.Record) {
			n++
			for _, h := range r.Headers {
				if strings.Contains(strings.ToLower(h.Key), "error") || strings.Contains(strings.ToLower(h.Key), "reason") {
					t.Logf("dead letter from %s: %s=%s", r.Key, h.Key, h.Value)
				}
			}
		})
	}
}

// personalKeys are the payload fields that hold personal data (lower case).
var personalKeys = map[string]bool{
	"email": true, "address": true, "name": true, "user_name": true, "phone": true, "mobilephone": true,
	"subject": true, "topic": true, "raw_digits": true, "from": true, "to": true, "called": true, "caller": true,
	"bodypreview": true, "phone_number": true, "from_formatted": true, "to_formatted": true,
}

// personalValues collects every contact e-mail, phone, name and subject
// in the payloads: JSON string values under personalKeys (and first plus
// last name pairs), form values of Twilio callbacks. Values shorter than 6
// bytes are left out: they match innocent text ("lead").
func personalValues(ps []payload) []string {
	set := map[string]bool{}
	addV := func(s string) {
		s = strings.TrimSpace(s)
		if len(s) < 6 {
			return
		}
		set[s] = true
		// Phone numbers as the decoders normalise them.
		if s[0] == '+' || s[0] == '(' {
			d := strings.Map(func(r rune) rune {
				if r >= '0' && r <= '9' || r == '+' {
					return r
				}
				return -1
			}, s)
			if len(d) >= 8 {
				set[d] = true
			}
		}
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			first, last := "", ""
			for k, e := range x {
				lk := strings.ToLower(k)
				if s, ok := e.(string); ok {
					switch lk {
					case "firstname", "first_name":
						first = s
					case "lastname", "last_name":
						last = s
					}
					if personalKeys[lk] {
						addV(s)
					}
					continue
				}
				walk(e)
			}
			if first != "" && last != "" {
				addV(first + " " + last)
			}
			// A HubSpot contact.propertyChange names the property apart
			// from its value.
			if p, ok := x["propertyName"].(string); ok && (p == "email" || p == "phone" || p == "mobilephone") {
				if v, ok := x["propertyValue"].(string); ok {
					addV(v)
				}
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	for _, p := range ps {
		v := bytes.TrimSpace(p.value)
		if len(v) > 0 && (v[0] == '{' || v[0] == '[') {
			var x any
			if json.Unmarshal(v, &x) == nil {
				walk(x)
			}
			continue
		}
		q, err := url.ParseQuery(string(v))
		if err != nil {
			continue
		}
		for k, vs := range q {
			if personalKeys[strings.ToLower(k)] {
				for _, s := range vs {
					addV(s)
				}
			}
		}
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// assertNoPersonalData searches every String, LowCardinality(String), Map
// and Array column of every table in the database for any of values,
// case-insensitively and as substrings. The distinct values of each column
// are searched here rather than with multiSearchAny in ClickHouse: 2.5k
// needles took the embedded engine minutes.
func assertNoPersonalData(t *testing.T, eng *chdb.Engine, values []string) {
	t.Helper()
	ctx := context.Background()
	out, err := eng.Query(ctx, `SELECT c.table, c.name, c.type FROM system.columns AS c
		INNER JOIN system.tables AS t ON t.database = c.database AND t.name = c.table
		WHERE c.database = '`+database+`' AND t.engine NOT LIKE '%View%'
		ORDER BY c.table, c.name`, "TabSeparated")
	if err != nil {
		t.Fatal(err)
	}
	lower := make([]string, len(values))
	for k, v := range values {
		lower[k] = strings.ToLower(v)
	}
	checked, cells := 0, 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			continue
		}
		table, col, typ := f[0], f[1], f[2]
		if strings.HasPrefix(typ, "AggregateFunction(") ||
			!(strings.Contains(typ, "String") || strings.HasPrefix(typ, "Map(") || strings.HasPrefix(typ, "Array(")) {
			continue
		}
		// TabSeparatedRaw: no escaping that could hide a value.
		text, err := eng.Query(ctx, "SELECT DISTINCT toString(`"+col+"`) FROM "+database+".`"+table+"`", "TabSeparatedRaw")
		if err != nil {
			t.Fatalf("read %s.%s: %v", table, col, err)
		}
		cells += bytes.Count(text, []byte("\n"))
		hay := strings.ToLower(string(text))
		for k, v := range lower {
			if strings.Contains(hay, v) {
				t.Errorf("raw personal value %q in %s.%s (%s)", values[k], table, col, typ)
			}
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no String, Map or Array column found to search")
	}
	t.Logf("searched %d columns (%d distinct values) for %d personal values: none found", checked, cells, len(values))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// checkCRMSemantics checks, in the stored rows, the CRM vendor semantics of
// issue 12 (point 5) on the hand-made samples:
//   - salesforce/lead_conversion_transaction_pubsub.json: the four change
//     events of one lead conversion (Account, Contact, Opportunity CREATEs
//     and the Lead UPDATE, one transactionKey), after "Change Events for
//     Lead Conversion", Salesforce Change Data Capture Developer Guide,
//     https://developer.salesforce.com/docs/atlas.en-us.change_data_capture.meta/change_data_capture/cdc_standard_objects_lead_conversion.htm
//   - salesforce/identity_lead_and_contact_changes_pubsub.json: a Lead
//     CREATE with e-mail, phone, mobile and Address.CountryCode, a Lead
//     UPDATE of Email by another user (owner unchanged), and a customer's
//     Contact CREATE, after "Change Event Body Fields" and "Get Compound
//     Fields in Change Events", Salesforce Change Data Capture Developer
//     Guide,
//     https://developer.salesforce.com/docs/atlas.en-us.change_data_capture.meta/change_data_capture/cdc_event_fields_body.htm
//     https://developer.salesforce.com/docs/atlas.en-us.change_data_capture.meta/change_data_capture/cdc_subscribe_compound_fields.htm
//   - hubspot/identity_contact_property_changes.json: contact.creation
//     from FORM with its email and phone contact.propertyChange events, an
//     imported contact's e-mail, a cleared e-mail, after "Webhook
//     payloads" (below);
//   - hubspot/crm_semantics_batch.json: contact creations from IMPORT and
//     FORM and dealstage changes into a custom pipeline's GUID stage and
//     closedwon, after "Webhook payloads", HubSpot Webhooks API,
//     https://developers.hubspot.com/docs/api/webhooks#webhook-payloads
func checkCRMSemantics(t *testing.T, eng *chdb.Engine) {
	t.Helper()
	f := func(what, sql string, want int) {
		t.Helper()
		if got := countRows(t, eng, sql); got != want {
			t.Errorf("%s: %d, want %d (%s)", what, got, want, sql)
		}
	}
	conv := "FROM " + database + ".interactions WHERE source = 'salesforce' AND startsWith(event_id, 'sf:000b7c11-48aa-2f0e-93ce-77c0e5dfb001:')"
	f("a conversion is one stage fact", "SELECT countIf(type = 'opportunity.stage_changed') "+conv, 1)
	f("the conversion is credited to the converting user's rep and joins its opportunity (kept by the default privacy allow-list)",
		"SELECT count() "+conv+" AND type = 'lead.converted' AND rep_id = 'rep-fixtures' AND lead_id = '00Q5g00000XyZaBEAV'"+
			" AND attributes['opportunity_id'] = '0065g00000ZxCvBAAZ' AND attributes['sf_rep_source'] = 'commit_user'", 1)
	hs := "FROM " + database + ".interactions WHERE source = 'hubspot' AND startsWith(event_id, 'hs:62515:')"
	f("an imported HubSpot contact opens no lead", "SELECT count() "+hs+" AND lead_id = 'hs:62515:7700001'", 0)
	f("a form-created HubSpot contact opens a lead", "SELECT count() "+hs+" AND type = 'lead.created' AND lead_id = 'hs:62515:7700002'", 1)
	f("an unmapped GUID stage is marked", "SELECT count() "+hs+" AND type = 'opportunity.stage_changed'"+
		" AND stage = '4f9c4e5a-9d3b-4c57-8a5e-0f1d6b7c2a10' AND attributes['hs_stage_unmapped'] = 'true'", 1)
	sfID := "FROM " + database + ".interactions WHERE source = 'salesforce' AND startsWith(event_id, 'sf:000c3d44-1a2b-4c5d-8e9f-0a1b2c3d4e0')"
	f("a Salesforce lead opens with its identities pseudonymised", "SELECT count() "+sfID+
		" AND type = 'lead.created' AND lead_id = '00Q5g00000IdEnTEAV' AND contact_key != ''", 1)
	f("a Salesforce Lead UPDATE of Email is lead.updated credited to the committing user", "SELECT count() "+sfID+
		" AND type = 'lead.updated' AND lead_id = '00Q5g00000IdEnTEAV' AND rep_id = 'rep-fixtures' AND contact_key != ''", 1)
	f("a Salesforce Contact is a lead without a trigger, at its account", "SELECT count() "+sfID+
		" AND type = 'lead.updated' AND lead_id = '0035g00000IdEnTAAZ' AND account_id = '0015g00000IdEnTAAZ'", 1)
	hsID := hs + " AND toUInt64OrZero(splitByChar(':', event_id)[4]) BETWEEN 710001 AND 710006"
	f("a HubSpot contact's e-mail and phone are lead.updated of its lead", "SELECT count() "+hsID+
		" AND type = 'lead.updated' AND lead_id = 'hs:62515:7710001' AND contact_key != ''", 2)
	f("an imported HubSpot contact's e-mail is learnt, though it opens no lead", "SELECT countIf(type = 'lead.updated') - countIf(type = 'lead.created') "+hsID+
		" AND lead_id = 'hs:62515:7710002'", 1)
	f("a HubSpot win keeps its deal and user ids", "SELECT count() "+hs+" AND type = 'deal.won'"+
		" AND attributes['opportunity_id'] = 'hs:62515:8837402' AND attributes['hs_user_id'] = '2620022'", 1)
}

// checkTouchSemantics: the hand-made telephony and meeting samples (after
// Twilio's status callback and <Dial> docs,
// https://www.twilio.com/docs/voice/api/call-resource#statuscallback and
// https://www.twilio.com/docs/voice/twiml/dial, and Zoom's
// meeting.participant_joined,
// https://developers.zoom.us/docs/api/meetings/events/#tag/meeting/POST/meeting.participant_joined)
// arrive credited to the agent or host, with the contact only as a
// pseudonym, and no lead: lead resolution gives them theirs.
func checkTouchSemantics(t *testing.T, eng *chdb.Engine) {
	t.Helper()
	f := func(what, sql string, want int) {
		t.Helper()
		if got := countRows(t, eng, sql); got != want {
			t.Errorf("%s: %d, want %d (%s)", what, got, want, sql)
		}
	}
	from := "FROM " + database + ".interactions WHERE rep_id = 'rep-fixtures' AND contact_key != '' AND lead_id = ''"
	f("a Twilio <Dial> child leg is the agent's inbound call, under the conversation's id",
		"SELECT count() "+from+" AND source = 'twilio' AND type = 'call.inbound' AND event_id = 'twilio:CA8e4f1d6c5b4a39281716057d3f0c2b9a'", 1)
	f("a guest's Zoom join is a meeting.joined of the host",
		"SELECT count() "+from+" AND source = 'zoom' AND type = 'meeting.joined'"+
			" AND event_id = 'zoom:dG8nBq0pQPi8Hq5yX3bLfw==:8b9f4e2a-6c1d-4f7e-9a3b-2d5c8e1f0a7b:2024-11-26T15:02:41Z'", 1)
}
