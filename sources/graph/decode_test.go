package graph

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/vendorkit"
	"github.com/salespulse/salespulse/sources/vendorkit/kittest"
	"gopkg.in/yaml.v3"
)

// testIndex is a small org with the identities the fixtures use.
func testIndex() *schemas.Index {
	return schemas.NewIndex(&schemas.Org{
		Teams: []schemas.Team{{ID: "team-emea", Name: "EMEA", ManagerID: "rep-mia"}},
		Reps: []schemas.Rep{
			{ID: "rep-ada", TeamID: "team-emea", Mailboxes: []string{"adelev@contoso.onmicrosoft.com"}},
			{ID: "rep-bob", TeamID: "team-emea", Mailboxes: []string{"bob@salespulse-demo.com"}},
		},
	})
}

func newTestDecoder(tb testing.TB, reg prometheus.Registerer) *Decoder {
	tb.Helper()
	d, err := NewDecoder(Config{}, testIndex(), reg)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// suite is the checks the vendor normalisers' tests share (kittest), for
// this decoder.
func suite(tb testing.TB) kittest.Suite {
	d := newTestDecoder(tb, nil)
	return kittest.Suite{Decode: d.Decode, Source: source, IDPrefix: "graph:", Format: kittest.Render, RulePrefix: true}
}

func TestDecodeGolden(t *testing.T) { suite(t).Golden(t) }

func TestDecodeRejects(t *testing.T) {
	s := suite(t)
	f := func(payload, field, value, rule string) {
		t.Helper()
		s.Reject(t, payload, payload, field, value, rule)
	}
	const out = `"from":{"emailAddress":{"address":"adelev@contoso.onmicrosoft.com"}},"toRecipients":[{"emailAddress":{"address":"x@example.com"}}]`
	msg := func(fields string) string { return "{" + fields + "}" }

	f(`{"id":`, "", `{"id":`, "malformed JSON")
	f(`{} []`, "", `{} []`, "malformed JSON")
	f(`{"value":{"a":1}}`, "value", `{"a":1}`, "must be an array of messages or notifications")
	f(msg(`"isDraft":"no"`), "isDraft", `"no"`, "must be a boolean")
	f(msg(`"subject":"x"`), "from.emailAddress.address", "", "required")
	f(msg(`"from":{"emailAddress":{"address":5}}`), "from.emailAddress.address", "5", "must be a string")
	f(msg(`"sender":{"emailAddress":{"name":[]}}`), "sender.emailAddress.name", "[]", "must be a string")
	f(msg(`"from":{"emailAddress":{"address":"a@b.c"}},"toRecipients":[{"emailAddress":{"address":"d@e.f"}},{"emailAddress":{"address":true}}]`), "toRecipients[1].emailAddress.address", "true", "must be a string")
	f(msg(`"from":{"emailAddress":{"address":"a@b.c"}},"toRecipients":[{"emailAddress":{"address":"d@e.f"}}]`), "from.emailAddress.address", "a@b.c", "unknown graph mailbox")
	f(msg(`"from":{"emailAddress":{"address":"a@b.c"}},"bccRecipients":[{"emailAddress":{"address":"bob@salespulse-demo.com"}}]`), "from.emailAddress.address", "a@b.c", "unknown graph mailbox")
	f(msg(out), "sentDateTime", "", "required")
	f(msg(out+`,"sentDateTime":"06/05/2024"`), "sentDateTime", "06/05/2024", vendorkit.RuleISOTime)
	f(msg(out+`,"sentDateTime":"1999-12-31T23:59:59Z"`), "sentDateTime", "1999-12-31T23:59:59Z", vendorkit.RuleISOTime)
	f(msg(`"from":{"emailAddress":{"address":"x@example.com"}},"toRecipients":[{"emailAddress":{"address":"bob@salespulse-demo.com"}}],"receivedDateTime":7`), "receivedDateTime", "7", "required")
	f(msg(out+`,"sentDateTime":"2024-05-06T10:00:00Z"`), "internetMessageId", "", "required (or id)")
	f(msg(out+`,"sentDateTime":"2024-05-06T10:00:00Z","internetMessageId":1`), "internetMessageId", "1", "must be a string")
	f(msg(out+`,"sentDateTime":"2024-05-06T10:00:00Z","id":"A","subject":{}`), "subject", "{}", "must be a string")
	f(msg(out+`,"sentDateTime":"2024-05-06T10:00:00Z","id":"A","conversationId":2`), "conversationId", "2", "must be a string")
	f(`{"value":[{"isDraft":1}]}`, "value[0].isDraft", "1", "must be a boolean")
}

func TestListKeepsGoodMessages(t *testing.T) {
	d := newTestDecoder(t, nil)
	value, err := os.ReadFile("testdata/delta_page.json")
	if err != nil {
		t.Fatal(err)
	}
	evs, err := d.Decode(nil, value)
	if len(evs) != 2 || evs[0].Type != schemas.TypeMessageInbound || evs[1].Type != schemas.TypeMessageOutbound {
		t.Errorf("good messages of the page: %+v", evs)
	}
	var fe *schemas.FieldError
	if !errors.As(err, &fe) || fe.Field != "value[2].from.emailAddress.address" {
		t.Fatalf("first error: %v", err)
	}
	if !strings.Contains(err.Error(), "value[4].receivedDateTime") {
		t.Errorf("error does not name the second bad message: %v", err)
	}
}

// TestCopiesInSeveralMailboxes: the same message fetched from the sender's
// and a recipient's mailbox (different Graph ids) is one interaction.
func TestCopiesInSeveralMailboxes(t *testing.T) {
	d := newTestDecoder(t, nil)
	a, err := d.Decode(nil, []byte(`{"id":"copy-in-ada","internetMessageId":"<m1@x>","sentDateTime":"2024-05-06T10:00:00Z","from":{"emailAddress":{"address":"adelev@contoso.onmicrosoft.com"}},"toRecipients":[{"emailAddress":{"address":"bob@salespulse-demo.com"}},{"emailAddress":{"address":"c@example.com"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := d.Decode(nil, []byte(`{"id":"copy-in-bob","internetMessageId":"<m1@x>","sentDateTime":"2024-05-06T10:00:00Z","receivedDateTime":"2024-05-06T10:00:02Z","from":{"emailAddress":{"address":"ADELEV@contoso.onmicrosoft.com"}},"toRecipients":[{"emailAddress":{"address":"bob@salespulse-demo.com"}},{"emailAddress":{"address":"c@example.com"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 1 || len(b) != 1 || a[0].EventID != b[0].EventID || !bytes.Equal(kittest.Render(a, nil), kittest.Render(b, nil)) {
		t.Errorf("copies decode differently:\n%s\n%s", kittest.Render(a, nil), kittest.Render(b, nil))
	}
	if strings.Contains(a[0].EventID, "m1") || len(a[0].EventID) != len("graph:")+32 {
		t.Errorf("event id %q is not an opaque hash", a[0].EventID)
	}
}

// TestDecodeStableAndOwned: interactions own their strings and a redelivery
// decodes the same, also into a reused slot.
func TestDecodeStableAndOwned(t *testing.T) { suite(t).Owned(t, "message_inbound.json") }

func TestSkippedMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	d := newTestDecoder(t, reg)
	for _, p := range []string{"change_notifications", "lifecycle_notification", "message_draft", "message_internal", "delta_end_empty"} {
		value, err := os.ReadFile("testdata/" + p + ".json")
		if err != nil {
			t.Fatal(err)
		}
		if evs, err := d.Decode(nil, value); len(evs) != 0 || err != nil {
			t.Errorf("%s: want skipped, got %d events, %v", p, len(evs), err)
		}
	}
	// A second decoder on the same registry shares the counters.
	if _, err := NewDecoder(Config{}, testIndex(), reg); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP salespulse_graph_notifications_total Graph change and lifecycle notifications seen (references to messages, never interactions), by outcome: verified (clientState matches), unverified (no sources.graph.client_state configured), rejected (dead-lettered).
# TYPE salespulse_graph_notifications_total counter
salespulse_graph_notifications_total{outcome="rejected"} 0
salespulse_graph_notifications_total{outcome="unverified"} 3
salespulse_graph_notifications_total{outcome="verified"} 0
# HELP salespulse_graph_skipped_total Graph mail records deliberately decoded to no interaction, by reason.
# TYPE salespulse_graph_skipped_total counter
salespulse_graph_skipped_total{reason="draft"} 1
salespulse_graph_skipped_total{reason="empty_page"} 1
salespulse_graph_skipped_total{reason="internal"} 1
salespulse_graph_skipped_total{reason="removed"} 0
`
	if err := testutil.CollectAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

// TestNewDecoder: the decoder needs the org index to find reps. (Its
// topic is routing, the app's: sources.graph.topic, internal/app tests.)
func TestNewDecoder(t *testing.T) {
	if _, err := NewDecoder(Config{}, nil, nil); err == nil {
		t.Error("NewDecoder with a nil index succeeded")
	}
}

func FuzzDecode(f *testing.F) { suite(f).Fuzz(f) }

// BenchmarkDecode measures one inbound message resource (~1.2 KB).
//
//	go test ./sources/graph -run '^$' -bench Decode -benchtime 200ms -count 5 | tee new.txt
//	benchstat old.txt new.txt
func BenchmarkDecode(b *testing.B) {
	value, err := os.ReadFile("testdata/message_inbound.json")
	if err != nil {
		b.Fatal(err)
	}
	suite(b).Bench(b, value, 1)
}

// TestClientState: with sources.graph.client_state configured, a change
// notification is accepted only when its clientState is one of the
// configured values (two during a rotation); the others are bad input,
// dead-lettered with a reason that does not echo the value. Accepted ones
// stay references, never interactions, and every notification is counted
// by outcome.
//
// Payloads hand-made after Microsoft's changeNotification resource
// (https://learn.microsoft.com/graph/api/resources/changenotification:
// subscriptionId, subscriptionExpirationDateTime, clientState,
// changeType, resource, resourceData, tenantId, lifecycleEvent) and
// "Receive change notifications through webhooks"
// (https://learn.microsoft.com/graph/change-notifications-delivery-webhooks):
// the clientState set on the subscription comes back in every
// notification, and the receiver must check it and not treat a
// notification with another value as valid, since it may not come from
// Microsoft Graph. Notifications carry no message: the connector GETs the
// resource (https://learn.microsoft.com/graph/api/message-get).
func TestClientState(t *testing.T) {
	t.Setenv("SALESPULSE_TEST_GRAPH_CLIENT_STATE", "currentClientValue")
	cfg := loadConfig(t, "testdata/config/rotation.good.yml")
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	d, err := NewDecoder(cfg, testIndex(), reg)
	if err != nil {
		t.Fatal(err)
	}
	s := kittest.Suite{Decode: d.Decode, Source: source, IDPrefix: "graph:", Dir: "testdata/client_state", Format: kittest.Render, RulePrefix: true}
	s.Golden(t) // decodes each payload twice

	value, err := os.ReadFile("testdata/client_state/notifications_forged_and_missing.json")
	if err != nil {
		t.Fatal(err)
	}
	evs, err := d.Decode(nil, value)
	var fe *schemas.FieldError
	if len(evs) != 0 || !errors.As(err, &fe) || fe.Field != "value[1].clientState" || !strings.HasPrefix(fe.Rule, "does not match sources.graph.client_state") {
		t.Errorf("forged notification: %d events, %v", len(evs), err)
	}
	if strings.Contains(err.Error(), "guessedValue") || strings.Contains(err.Error(), "currentClientValue") {
		t.Errorf("the error echoes a clientState: %v", err)
	}
	if !strings.Contains(err.Error(), "value[2].clientState") || !strings.Contains(err.Error(), "required") {
		t.Errorf("a notification without clientState is not rejected: %v", err)
	}

	want := `
# HELP salespulse_graph_notifications_total Graph change and lifecycle notifications seen (references to messages, never interactions), by outcome: verified (clientState matches), unverified (no sources.graph.client_state configured), rejected (dead-lettered).
# TYPE salespulse_graph_notifications_total counter
salespulse_graph_notifications_total{outcome="rejected"} 6
salespulse_graph_notifications_total{outcome="unverified"} 0
salespulse_graph_notifications_total{outcome="verified"} 9
`
	// Golden decodes its 3 payloads twice (verified 2+1+1, rejected 0+2+0
	// a pass), then the forged batch once more.
	if err := testutil.CollectAndCompare(reg, strings.NewReader(want), "salespulse_graph_notifications_total"); err != nil {
		t.Error(err)
	}
}

func loadConfig(t *testing.T, path string) Config {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c Config
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	c.SetDefaults()
	return c
}

func TestConfigFiles(t *testing.T) {
	t.Setenv("SALESPULSE_TEST_GRAPH_CLIENT_STATE", "currentClientValue")
	good, _ := filepath.Glob("testdata/config/*.good.yml")
	for _, f := range good {
		c := loadConfig(t, f)
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		if _, err := NewDecoder(c, testIndex(), nil); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	for file, want := range map[string]error{"three.bad.yml": ErrTooManyClientStates, "both.bad.yml": ErrSecretSource, "unset_env.bad.yml": ErrSecretEmpty} {
		if err := loadConfig(t, filepath.Join("testdata/config", file)).Validate(); !errors.Is(err, want) {
			t.Errorf("%s: got %v, want %v", file, err, want)
		}
	}
	// A secret file that is missing or empty fails when the decoder is built.
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{empty, filepath.Join(t.TempDir(), "missing")} {
		if _, err := NewDecoder(Config{ClientState: []Secret{{File: f}}}, testIndex(), nil); err == nil {
			t.Errorf("secret file %s accepted", f)
		}
	}
}

// TestContactIsTheExternalAddress: the touch's contact is the address at
// the other end, as Graph sends it (the privacy stage lower-cases it): the
// recipient of a message the rep sent, the sender of one the rep received,
// and the lead is left to lead resolution. Message resource:
// https://learn.microsoft.com/graph/api/resources/message (from,
// toRecipients: recipient.emailAddress.address).
func TestContactIsTheExternalAddress(t *testing.T) {
	d := newTestDecoder(t, nil)
	f := func(name string, typ schemas.Type, rep, email string) {
		t.Helper()
		value, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		evs, err := d.Decode(nil, value)
		if err != nil || len(evs) != 1 {
			t.Fatalf("%s: %d interactions, %v", name, len(evs), err)
		}
		if ev := &evs[0]; ev.Type != typ || ev.RepID != rep || ev.Contact.Email != email || ev.LeadID != "" {
			t.Errorf("%s: %s of %s, contact %q, lead %q; want %s of %s, contact %q", name, ev.Type, ev.RepID, ev.Contact.Email, ev.LeadID, typ, rep, email)
		}
	}
	f("message_get_v1.json", schemas.TypeMessageOutbound, "rep-ada", "AlexW@contoso.OnMicrosoft.com")
	f("message_inbound.json", schemas.TypeMessageInbound, "rep-bob", "jill@example.com")
}

// A decoder that decoded a large delta page, a list that failed halfway
// and a single message decodes every later record as a fresh one does:
// what an earlier record left in the reused list (removals, cc, a draft
// flag) never shows through fields a later one leaves out.
func TestDecodeAfterEarlierPages(t *testing.T) {
	page, err := os.ReadFile("testdata/delta_page.json")
	if err != nil {
		t.Fatal(err)
	}
	// The page's messages reversed and cut to two (no @removed, no cc).
	short := []byte(`{"value":[
		{"id":"S1","internetMessageId":"<s1@example.com>","receivedDateTime":"2024-05-06T14:00:00Z","sentDateTime":"2024-05-06T13:59:58Z","from":{"emailAddress":{"address":"prospect@example.org"}},"toRecipients":[{"emailAddress":{"address":"adelev@contoso.onmicrosoft.com"}}]},
		{"id":"S2","internetMessageId":"<s2@example.com>","receivedDateTime":"2024-05-06T15:00:00Z","sentDateTime":"2024-05-06T14:59:58Z","from":{"emailAddress":{"address":"buyer@example.org"}},"toRecipients":[{"emailAddress":{"address":"bob@salespulse-demo.com"}}]}]}`)
	broken := []byte(`{"value":[{"id":"B1","isDraft":true,"ccRecipients":[{"emailAddress":{"address":"x@example.org"}}]},{"id":"B2","isDraft":true},7,`)
	single, err := os.ReadFile("testdata/message_inbound.json")
	if err != nil {
		t.Fatal(err)
	}
	decode := func(d *Decoder, v []byte) string {
		evs, err := d.Decode(nil, v)
		return string(kittest.Render(evs, err))
	}
	d := newTestDecoder(t, nil)
	for _, seq := range [][][]byte{{page, short}, {page, broken, short}, {broken, short, single}, {page, single, short}} {
		for k, v := range seq {
			if got, want := decode(d, v), decode(newTestDecoder(t, nil), v); got != want {
				t.Fatalf("record %d after %d others decodes as\n%s\nwant (fresh decoder)\n%s", k, k, got, want)
			}
		}
	}
}

// BenchmarkDecodeAfterLargePage: one message resource per op, decoded by
// a decoder that once decoded a 1,000-message delta page (a first sync of
// a mailbox): each record used to clear all 1,000 reused list slots.
func BenchmarkDecodeAfterLargePage(b *testing.B) {
	msg, err := os.ReadFile("testdata/message_inbound.json")
	if err != nil {
		b.Fatal(err)
	}
	page := []byte(`{"value":[`)
	for k := range 1000 {
		if k > 0 {
			page = append(page, ',')
		}
		page = append(page, msg...)
	}
	page = append(page, "]}"...)
	d := newTestDecoder(b, nil)
	if _, err := d.Decode(nil, page); err != nil {
		b.Fatal(err)
	}
	var dst []schemas.Interaction
	b.ReportAllocs()
	for b.Loop() {
		if dst, err = d.Decode(dst[:0], msg); err != nil {
			b.Fatal(err)
		}
	}
}
