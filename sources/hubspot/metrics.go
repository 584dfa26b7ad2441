package hubspot

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/vendorkit"
)

// Skip reasons, the values of the reason label of
// salespulse_hubspot_skipped_total.
const (
	skipSubscription = "subscription"  // deletions, merges, associations, companies, ...: not interactions
	skipDealCreation = "deal_creation" // the stage arrives as deal.propertyChange of dealstage
	skipOwnership    = "ownership"     // hubspot_owner_id changes: ownership, not an interaction
	skipProperty     = "property"      // any other property change, or a cleared e-mail or phone
	skipChangeSource = "change_source" // contact created by a source not in lead_change_sources (imports, API, ...)
)

var skipReasons = []string{skipSubscription, skipDealCreation, skipOwnership, skipProperty, skipChangeSource}

type metrics struct {
	skipped      map[string]prometheus.Counter
	emitted      []prometheus.Counter          // indexed by schemas.Type-1
	unknownStage map[string]prometheus.Counter // by stage id form
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	skipped, err := vendorkit.NewSkipped(reg, "hubspot", "HubSpot webhook events deliberately not turned into interactions, by reason.")
	if err != nil {
		return nil, err
	}
	emitted, err := vendorkit.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "salespulse_hubspot_interactions_total",
		Help: "Canonical interactions decoded from HubSpot webhook events, by type.",
	}, []string{"type"}))
	if err != nil {
		return nil, err
	}
	unknown, err := vendorkit.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "salespulse_hubspot_unknown_stages_total",
		Help: "HubSpot dealstage changes into a stage id listed in none of won_stages, lost_stages and open_stages, by id form (numeric, guid, name). Such changes are opportunity.stage_changed, never deal.won or deal.lost; find the ids with attribute hs_stage_unmapped.",
	}, []string{"form"}))
	if err != nil {
		return nil, err
	}
	types := schemas.Types()
	m := &metrics{skipped: make(map[string]prometheus.Counter, len(skipReasons)), emitted: make([]prometheus.Counter, len(types)),
		unknownStage: make(map[string]prometheus.Counter, len(stageForms))}
	for _, f := range stageForms {
		m.unknownStage[f] = unknown.WithLabelValues(f)
	}
	for _, r := range skipReasons {
		m.skipped[r] = skipped.WithLabelValues(r)
	}
	for k, t := range types {
		m.emitted[k] = emitted.WithLabelValues(t.String())
	}
	return m, nil
}

func (m *metrics) emit(t schemas.Type) {
	if k := int(t) - 1; k >= 0 && k < len(m.emitted) {
		m.emitted[k].Inc()
	}
}
