package salesforce

import (
	"os"
	"strings"
	"testing"

	"github.com/salespulse/salespulse/schemas"
)

// No Salesforce object that SalesPulse receives carries a forecast
// submission, so the decoder emits no forecast.submitted (docs/sources.md,
// "Forecasts"); forecasts come in on the canonical topic.
//
//   - ForecastingItem, the per-user, per-period forecast amount of
//     Collaborative Forecasts, is read-only and supports only
//     describeSObjects(), getDeleted(), getUpdated(), query() and
//     retrieve(): https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_forecastingitem.htm
//   - It is not among the standard objects that support change events
//     (Change Data Capture Developer Guide, "Change Event Object
//     Support"): https://developer.salesforce.com/docs/atlas.en-us.change_data_capture.meta/change_data_capture/cdc_object_support.htm
//   - ForecastingSubmission (API 62.0: a submitted forecast, with
//     ForecastOwnerId, PeriodStartDate, SubmissionDateTime,
//     CurrencyIsoCode) and its ForecastingSubmissionItem rows (Amount per
//     ForecastingItemCategory) are what forecast.submitted means, but they
//     too support only describeSObjects(), getDeleted(), getUpdated(),
//     query() and retrieve(), no change events:
//     https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_forecastingsubmission.htm
//     A poller (getUpdated, or SOQL on SubmissionDateTime) would have to
//     write them to the canonical topic; SalesPulse has none.
//   - Opportunity is, and its change events carry ForecastCategoryName,
//     the deal's category (Pipeline, Best Case, Commit, Omitted, Closed)
//     derived from its stage: that is one deal moving between categories,
//     not a rep's call of a period's total, so it stays an
//     opportunity.stage_changed.

// TestOpportunityForecastCategoryIsNoForecast: the documented
// OpportunityChangeEvent that moves a deal to Commit decodes to the stage
// change only.
func TestOpportunityForecastCategoryIsNoForecast(t *testing.T) {
	b, err := os.ReadFile("testdata/opportunity_update_stage_cometd_enriched.json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"ForecastCategoryName": "Commit"`) {
		t.Fatal("fixture no longer changes ForecastCategoryName")
	}
	out, err := newTestDecoder(t, Config{}).Decode(nil, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].Type != schemas.TypeOpportunityStageChanged {
		t.Fatalf("decoded %+v, want one opportunity.stage_changed", out)
	}
}

// TestForecastingItemIsNotDecoded: were a relay to put a ForecastingItem
// record on the Salesforce topic in the change-event envelope, the decoder
// skips it as an object it does not know rather than guess a period and
// category.
func TestForecastingItemIsNotDecoded(t *testing.T) {
	rec := `{"schema":"x","payload":{"ChangeEventHeader":{"entityName":"ForecastingItem","recordIds":["0FI000000000001AAA"],` +
		`"changeType":"UPDATE","transactionKey":"k","sequenceNumber":1,"commitTimestamp":1653000000000,"commitUser":"005SM000000146PYAQ",` +
		`"changedFields":["ForecastAmount"]},"ForecastAmount":120000,"ForecastCategoryName":"Commit","PeriodId":"0260000000000001AAA",` +
		`"OwnerId":"005SM000000146PYAQ"},"event":{"replayId":1}}`
	out, err := newTestDecoder(t, Config{}).Decode(nil, []byte(rec))
	if err != nil || len(out) != 0 {
		t.Fatalf("decoded %+v, %v; want nothing", out, err)
	}
}
