package hubspot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"gopkg.in/yaml.v3"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/vendorkit/kittest"
)

// testIndex knows HubSpot user 4242; 999 and 7 are deliberately unknown.
func testIndex() *schemas.Index {
	return schemas.NewIndex(&schemas.Org{
		Teams: []schemas.Team{{ID: "team-na", ManagerID: "rep-mgr"}},
		Reps:  []schemas.Rep{{ID: "rep-dee", TeamID: "team-na", HubSpotUserIDs: []string{"4242"}}},
	})
}

func newTestDecoder(t testing.TB, cfg Config) *Decoder {
	t.Helper()
	d, err := NewDecoder(cfg, testIndex(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// suite is the checks the vendor normalisers' tests share (kittest), with
// the won stages the golden payloads use.
func suite(tb testing.TB) kittest.Suite {
	d := newTestDecoder(tb, Config{WonStages: []string{"closedwon", "1043772"}})
	return kittest.Suite{Decode: d.Decode, Source: Source, IDPrefix: "hs:"}
}

// TestGolden decodes every payload in testdata (the shared fixture plus
// hand-made variants) and compares with testdata/<name>.golden.json.
// Rewrite with -update.
func TestGolden(t *testing.T) { suite(t).Golden(t) }

func TestRejections(t *testing.T) {
	s := suite(t)
	f := func(name, value, field, val, rule string) {
		t.Helper()
		s.Reject(t, name, value, field, val, rule)
	}
	ok := `"eventId":1,"subscriptionId":2,"portalId":3,"occurredAt":1714411236000,"objectId":4`
	f("empty", "\n", "", "", "empty record value")
	f("truncated", `[{"eventId":1`, "", `[{"eventId":1`, "malformed JSON: json: cannot decode object from empty input: ")
	f("not events", `"hello"`, "", `"hello"`, "must be a JSON array of event objects, or one event object")
	f("array of numbers", `[1]`, "[0]", "1]", "must be a JSON array of event objects, or one event object")
	f("trailing data", `[] []`, "", "[]", "unexpected data after the JSON value")
	f("no type", `[{`+ok+`}]`, "[0].subscriptionType", "", "required (or eventType)")
	f("type not a string", `[{"subscriptionType":5,`+ok+`}]`, "[0].subscriptionType", "5", RuleString)
	f("legacy type not a string", `{"eventType":true,`+ok+`}`, "eventType", "true", RuleString)
	f("portal missing", `[{"subscriptionType":"contact.creation","eventId":1,"subscriptionId":2,"occurredAt":1714411236000,"objectId":4}]`,
		"[0].portalId", "", "required")
	f("portal not numeric", `[{"subscriptionType":"contact.creation","eventId":1,"subscriptionId":2,"portalId":"acme","occurredAt":1714411236000,"objectId":4}]`,
		"[0].portalId", `"acme"`, RuleID)
	f("negative event id", `[{"subscriptionType":"contact.creation","eventId":-1,"subscriptionId":2,"portalId":3,"occurredAt":1714411236000,"objectId":4}]`,
		"[0].eventId", "-1", RuleID)
	f("subscription id missing", `[{"subscriptionType":"contact.creation","eventId":1,"portalId":3,"occurredAt":1714411236000,"objectId":4}]`,
		"[0].subscriptionId", "", "required")
	f("object id as float", `[{"subscriptionType":"contact.creation","eventId":1,"subscriptionId":2,"portalId":3,"occurredAt":1714411236000,"objectId":4.5}]`,
		"[0].objectId", "4.5", RuleID)
	f("occurredAt in seconds", `[{"subscriptionType":"contact.creation","eventId":1,"subscriptionId":2,"portalId":3,"occurredAt":1714411236,"objectId":4}]`,
		"[0].occurredAt", "1714411236", ruleMillis)
	f("occurredAt missing", `[{"subscriptionType":"contact.creation","eventId":1,"subscriptionId":2,"portalId":3,"objectId":4}]`,
		"[0].occurredAt", "", "required")
	f("dealstage empty", `[{"subscriptionType":"deal.propertyChange","propertyName":"dealstage","propertyValue":"",`+ok+`}]`,
		"[0].propertyValue", "", "required for a dealstage change")
	f("dealstage not a string", `[{"subscriptionType":"deal.propertyChange","propertyName":"dealstage","propertyValue":{"id":1},`+ok+`}]`,
		"[0].propertyValue", `{"id":1}`, RuleString)
	f("propertyName not a string", `[{"subscriptionType":"deal.propertyChange","propertyName":1,`+ok+`}]`, "[0].propertyName", "1", RuleString)
	f("sourceId not a string", `[{"subscriptionType":"contact.creation","sourceId":42,`+ok+`}]`, "[0].sourceId", "42", RuleString)
	f("dealstage too long", `[{"subscriptionType":"deal.propertyChange","propertyName":"dealstage","propertyValue":"`+strings.Repeat("s", 300)+`",`+ok+`}]`,
		"[0].propertyValue", strings.Repeat("s", 128)+"…", "longer than 256 bytes")
}

const ruleMillis = "must be epoch milliseconds between 2000-01-01 and 2100-01-01"

// TestRetrySameID: a retried delivery (attemptNumber > 0) gets the id of
// the first attempt; another subscription's event with the same eventId
// does not.
func TestRetrySameID(t *testing.T) {
	d := newTestDecoder(t, Config{})
	first, err := d.Decode(nil, []byte(`[{"eventId":7,"subscriptionId":22,"portalId":33,"occurredAt":1714411236000,"subscriptionType":"contact.creation","objectId":1,"attemptNumber":0}]`))
	if err != nil {
		t.Fatal(err)
	}
	retry, err := d.Decode(nil, []byte(`{"eventId":7,"subscriptionId":22,"portalId":33,"occurredAt":1714411236000,"subscriptionType":"contact.creation","objectId":1,"attemptNumber":3}`))
	if err != nil {
		t.Fatal(err)
	}
	other, err := d.Decode(nil, []byte(`[{"eventId":7,"subscriptionId":23,"portalId":33,"occurredAt":1714411236000,"subscriptionType":"contact.creation","objectId":1}]`))
	if err != nil {
		t.Fatal(err)
	}
	if first[0].EventID != "hs:33:22:7" || retry[0].EventID != first[0].EventID || other[0].EventID == first[0].EventID {
		t.Errorf("ids: first %q retry %q other subscription %q", first[0].EventID, retry[0].EventID, other[0].EventID)
	}
}

func TestOwnedStrings(t *testing.T) {
	d := newTestDecoder(t, Config{})
	value := []byte(`[{"eventId":7,"subscriptionId":22,"portalId":33,"occurredAt":1714411236000,"subscriptionType":"deal.propertyChange","propertyName":"dealstage","propertyValue":"qualifiedtobuy","objectId":1,"changeSource":"CRM_UI","sourceId":"userId:991"}]`)
	got, err := d.Decode(nil, value)
	if err != nil || len(got) != 1 {
		t.Fatal(err)
	}
	want := got[0].Stage + got[0].Attributes["hs_change_source"] + got[0].Attributes["hs_user_id"] + got[0].EventID
	clear(value)
	if have := got[0].Stage + got[0].Attributes["hs_change_source"] + got[0].Attributes["hs_user_id"] + got[0].EventID; have != want {
		t.Errorf("strings alias the record buffer: %q became %q", want, have)
	}
}

func TestSkippedMetric(t *testing.T) {
	reg := prometheus.NewRegistry()
	d, err := NewDecoder(Config{}, testIndex(), reg)
	if err != nil {
		t.Fatal(err)
	}
	value, err := os.ReadFile("testdata/deal_stage_changes_batch.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Decode(nil, value); err != nil {
		t.Fatal(err)
	}
	err = testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP salespulse_hubspot_skipped_total HubSpot webhook events deliberately not turned into interactions, by reason.
# TYPE salespulse_hubspot_skipped_total counter
salespulse_hubspot_skipped_total{reason="change_source"} 0
salespulse_hubspot_skipped_total{reason="deal_creation"} 1
salespulse_hubspot_skipped_total{reason="ownership"} 1
salespulse_hubspot_skipped_total{reason="property"} 1
salespulse_hubspot_skipped_total{reason="subscription"} 0
`), "salespulse_hubspot_skipped_total")
	if err != nil {
		t.Error(err)
	}
	for typ, want := range map[schemas.Type]float64{schemas.TypeDealWon: 1, schemas.TypeDealLost: 1, schemas.TypeOpportunityStageChanged: 1} {
		if v := testutil.ToFloat64(d.metrics.emitted[typ-1]); v != want {
			t.Errorf("%s counted %v, want %v", typ, v, want)
		}
	}
}

func TestConfigFiles(t *testing.T) {
	load := func(path string) Config {
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
	good, _ := filepath.Glob("testdata/config/*.good.yml")
	for _, f := range good {
		if err := load(f).Validate(); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	for file, want := range map[string]error{
		"won_and_lost.bad.yml": ErrStageWonAndLost, "empty_stage.bad.yml": ErrEmptyValue,
		"stage_label.bad.yml": ErrStageID, "open_and_won.bad.yml": ErrStageOpenClosed,
		"change_source_typo.bad.yml": ErrChangeSource,
	} {
		if err := load(filepath.Join("testdata/config", file)).Validate(); !errors.Is(err, want) {
			t.Errorf("%s: got %v, want %v", file, err, want)
		}
	}
}

// TestCustomPipelineStages: dealstage values of custom pipelines are GUIDs
// (or, in older accounts, numbers). Listed ones map to won/lost (GUIDs
// case-insensitively); an unlisted one stays a stage change, is counted by
// id form and marked hs_stage_unmapped. Payloads follow the HubSpot
// Webhooks API ("Webhook payloads": deal.propertyChange with propertyName
// dealstage and propertyValue the new stage's internal id,
// https://developers.hubspot.com/docs/api/webhooks#webhook-payloads) and
// the Pipelines API (a stage's id, https://developers.hubspot.com/docs/api-reference/latest/crm/pipelines/guide).
func TestCustomPipelineStages(t *testing.T) {
	reg := prometheus.NewRegistry()
	d, err := NewDecoder(Config{
		WonStages:  []string{"closedwon", "4f9c4e5a-9d3b-4c57-8a5e-0f1d6b7c2a10"},
		LostStages: []string{"closedlost", "8A1D2C3B-0E4F-4A5B-9C6D-7E8F9A0B1C2D", "1043773"},
		OpenStages: []string{"appointmentscheduled", "d3f1a6b2-3c4d-4e5f-8a9b-0c1d2e3f4a5b"},
	}, testIndex(), reg)
	if err != nil {
		t.Fatal(err)
	}
	ev := func(eventID int, stage string) string {
		return fmt.Sprintf(`{"eventId":%d,"subscriptionId":1103,"portalId":62515,"appId":1160452,"occurredAt":1714500000000,`+
			`"subscriptionType":"deal.propertyChange","attemptNumber":0,"objectId":8837401,"propertyName":"dealstage",`+
			`"propertyValue":%q,"changeSource":"CRM_UI","sourceId":"userId:2620022"}`, eventID, stage)
	}
	body := "[" + strings.Join([]string{
		ev(1, "4f9c4e5a-9d3b-4c57-8a5e-0f1d6b7c2a10"), // listed won GUID
		ev(2, "8a1d2c3b-0e4f-4a5b-9c6d-7e8f9a0b1c2d"), // listed lost GUID, configured upper-case
		ev(3, "1043773"), // listed lost number
		ev(4, "d3f1a6b2-3c4d-4e5f-8a9b-0c1d2e3f4a5b"), // listed open GUID
		ev(5, "0b9e7d6c-5a4b-4c3d-9e2f-1a0b9c8d7e6f"), // unlisted GUID
		ev(6, "2299118"), // unlisted number
	}, ",") + "]"
	got, err := d.Decode(nil, []byte(body))
	if err != nil || len(got) != 6 {
		t.Fatalf("%d events, %v", len(got), err)
	}
	want := []struct {
		typ      schemas.Type
		unmapped bool
	}{
		{schemas.TypeDealWon, false}, {schemas.TypeDealLost, false}, {schemas.TypeDealLost, false},
		{schemas.TypeOpportunityStageChanged, false}, {schemas.TypeOpportunityStageChanged, true}, {schemas.TypeOpportunityStageChanged, true},
	}
	for k, w := range want {
		if got[k].Type != w.typ || (got[k].Attributes["hs_stage_unmapped"] == "true") != w.unmapped {
			t.Errorf("event %d (%s): %s unmapped=%q, want %s unmapped=%v", k+1, got[k].Stage, got[k].Type, got[k].Attributes["hs_stage_unmapped"], w.typ, w.unmapped)
		}
	}
	err = testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP salespulse_hubspot_unknown_stages_total HubSpot dealstage changes into a stage id listed in none of won_stages, lost_stages and open_stages, by id form (numeric, guid, name). Such changes are opportunity.stage_changed, never deal.won or deal.lost; find the ids with attribute hs_stage_unmapped.
# TYPE salespulse_hubspot_unknown_stages_total counter
salespulse_hubspot_unknown_stages_total{form="guid"} 1
salespulse_hubspot_unknown_stages_total{form="name"} 0
salespulse_hubspot_unknown_stages_total{form="numeric"} 1
`), "salespulse_hubspot_unknown_stages_total")
	if err != nil {
		t.Error(err)
	}
}

// TestLeadChangeSources: which contact creations open a lead (lead.created)
// depends on changeSource. Payloads follow the HubSpot Webhooks API
// ("Webhook payloads": contact.creation with changeSource, e.g. the
// documented example's "IMPORT",
// https://developers.hubspot.com/docs/api/webhooks#webhook-payloads); the
// values are the change sources of HubSpot's property history.
func TestLeadChangeSources(t *testing.T) {
	ev := func(eventID int, source string) string {
		cs := ""
		if source != "" {
			cs = `"changeSource":"` + source + `",`
		}
		return fmt.Sprintf(`{"eventId":%d,"subscriptionId":22,"portalId":62515,"appId":1160452,"occurredAt":1714500000000,`+
			`"subscriptionType":"contact.creation","attemptNumber":0,"objectId":%d,%s"sourceId":"userId:4242"}`, eventID, 5000+eventID, cs)
	}
	sources := []string{"FORM", "CRM_UI", "IMPORT", "API", "INTEGRATION", "CONVERSATIONS", "", "CRM_UI_BULK_ACTION", "SOMETHING_NEW"}
	var evs []string
	for k, src := range sources {
		evs = append(evs, ev(k+1, src))
	}
	body := []byte("[" + strings.Join(evs, ",") + "]")
	f := func(name string, cfg Config, wantOpened []string, wantSkipped float64) {
		t.Helper()
		reg := prometheus.NewRegistry()
		d, err := NewDecoder(cfg, testIndex(), reg)
		if err != nil {
			t.Fatal(err)
		}
		got, err := d.Decode(nil, body)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var opened []string
		for _, it := range got {
			if it.Type != schemas.TypeLeadCreated {
				t.Errorf("%s: %s", name, it.Type)
			}
			opened = append(opened, it.Attributes["hs_change_source"])
		}
		if !slices.Equal(opened, wantOpened) {
			t.Errorf("%s: leads opened by %q, want %q", name, opened, wantOpened)
		}
		if v := testutil.ToFloat64(d.metrics.skipped[skipChangeSource]); v != wantSkipped {
			t.Errorf("%s: skipped change_source %v, want %v", name, v, wantSkipped)
		}
	}
	// Default: forms, chat and hand entry open leads; imports, API,
	// integrations, bulk edits and unknown sources do not; no changeSource
	// opens one.
	f("defaults", Config{}, []string{"FORM", "CRM_UI", "CONVERSATIONS", ""}, 5)
	f("imports wanted", Config{LeadChangeSources: []string{"FORM", "IMPORT"}}, []string{"FORM", "IMPORT", ""}, 6)
	f("every source", Config{LeadChangeSources: []string{"*"}}, []string{"FORM", "CRM_UI", "IMPORT", "API", "INTEGRATION", "CONVERSATIONS", "", "CRM_UI_BULK_ACTION", "SOMETHING_NEW"}, 0)
	if _, err := NewDecoder(Config{LeadChangeSources: []string{"crm_ui"}}, nil, nil); !errors.Is(err, ErrChangeSource) {
		t.Errorf("lower-case change source accepted: %v", err)
	}
}
