package anomaly

import (
	"strings"
	"testing"
	"time"

	"github.com/salespulse/salespulse/schemas"
)

func owner(at time.Time, acc, rep, domain string) schemas.Interaction {
	return schemas.Interaction{OccurredAt: at, Source: "crm", Type: schemas.TypeAccountUpdated, AccountID: acc, RepID: rep,
		Attributes: map[string]string{schemas.AttrAccountDomain: domain}}
}

func sig(id string, at time.Time, kind, domain, acc string) schemas.Interaction {
	return schemas.Interaction{EventID: id, OccurredAt: at, Source: "smarte", Type: schemas.TypeAccountSignal, AccountID: acc,
		Attributes: map[string]string{schemas.AttrSignalKind: kind, schemas.AttrSignalDomain: domain, schemas.AttrSignalURL: "https://news.example/" + id}}
}

// tasks renders the market_signal alerts as "event>rep" in order.
func tasks(as []schemas.Alert) string {
	var out []string
	for _, a := range as {
		if a.Rule == RuleMarketSignal {
			out = append(out, a.EventIDs[0]+">"+a.RepID+"/"+a.Values["matched_by"])
		}
	}
	return strings.Join(out, " ")
}

func TestMarketSignals(t *testing.T) {
	h := newHarness(t, Config{Signals: SignalsConfig{Cooldown: 24 * time.Hour}})
	got := tasks(h.run(
		owner(t0, "acc-1", "ae-1", "https://WWW.Acme.com/about"),
		owner(t0, "acc-2", "ae-2", "beta.example"),
		sig("s1", t0.Add(time.Hour), schemas.SignalFundingRound, "acme.com", ""),
		// Same account and kind within the cooldown: no second task.
		sig("s2", t0.Add(2*time.Hour), schemas.SignalFundingRound, "http://acme.com", ""),
		// Another kind is its own cooldown.
		sig("s3", t0.Add(2*time.Hour), schemas.SignalNews, "acme.com.", ""),
		// By account id when the domain is unknown.
		sig("s4", t0.Add(3*time.Hour), schemas.SignalExecutiveChange, "", "acc-2"),
		// The domain wins over the id.
		sig("s5", t0.Add(3*time.Hour), schemas.SignalHiringSurge, "beta.example", "acc-1"),
		// Unmatched: parked until an account with the domain appears.
		sig("s6", t0.Add(4*time.Hour), schemas.SignalNews, "gamma.example", ""),
		sig("s7", t0.Add(26*time.Hour), schemas.SignalFundingRound, "acme.com", ""), // past the cooldown
	))
	if want := "s1>ae-1/domain s3>ae-1/domain s4>ae-2/account_id s5>ae-2/domain s7>ae-1/domain"; got != want {
		t.Fatalf("tasks\n got %s\nwant %s", got, want)
	}
	as := h.run(owner(t0.Add(27*time.Hour), "acc-3", "sdr-1", "gamma.example"))
	if got := tasks(as); got != "s6>sdr-1/domain" {
		t.Fatalf("late match: %s", got)
	}
	a := as[0]
	if a.Severity != schemas.SeverityInfo || a.TeamID != "team-02" || a.ManagerID != "mgr-02" || !a.At.Equal(t0.Add(27*time.Hour)) ||
		a.Values["url"] != "https://news.example/s6" || a.Values["account_domain"] != "gamma.example" {
		t.Fatalf("alert %+v", a)
	}
	for outcome, want := range map[string]float64{signalMatched: 5, signalSuppressed: 1, signalUnmatched: 1, signalLate: 1} {
		if got := metric(t, h.reg, "salespulse_anomaly_signals_total", "outcome", outcome); got != want {
			t.Errorf("%s: %v, want %v", outcome, got, want)
		}
	}
}

// TestRandomStreamExercisesSignals: the stream TestRestoreIsExact and
// TestCodecRoundTrip replay holds every outcome of the signal matcher, so
// their exactness covers its state.
func TestRandomStreamExercisesSignals(t *testing.T) {
	h := newHarness(t, restoreConfig())
	for _, b := range cutBatches(1, [][]schemas.Interaction{randomEvents(1, 3000)})[0] {
		process(t, h.stage, b)
	}
	for _, o := range []string{signalMatched, signalLate, signalSuppressed, signalUnmatched, signalDropped, signalExpired} {
		n := metric(t, h.reg, "salespulse_anomaly_signals_total", "outcome", o)
		if n == 0 {
			t.Errorf("no %s signal", o)
		}
		t.Logf("%s: %v", o, n)
	}
}
