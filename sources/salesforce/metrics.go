package salesforce

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/vendorkit"
)

// Skip reasons, the values of the reason label of
// salespulse_salesforce_skipped_total.
const (
	skipDelete      = "delete"        // DELETE change: nothing happened with a customer
	skipUndelete    = "undelete"      // UNDELETE change
	skipGap         = "gap"           // GAP_* event: Salesforce lost the detail; resync needed
	skipEntity      = "entity"        // Account, Contact, ...: not an interaction
	skipNoChange    = "no_change"     // UPDATE that changes nothing the mapping looks at
	skipInvitee     = "invitee_copy"  // Event IsChild=true: one copy per invitee
	skipInternal    = "internal_call" // Task CallType Internal
	skipOpenTask    = "open_task"     // Task still a to-do
	skipNotActivity = "not_activity"  // Task that is neither a call nor an e-mail
)

var skipReasons = []string{skipDelete, skipUndelete, skipGap, skipEntity, skipNoChange, skipInvitee, skipInternal, skipOpenTask, skipNotActivity}

type metrics struct {
	skipped map[string]prometheus.Counter // looked up by constant reason; children resolved once
	emitted []prometheus.Counter          // indexed by schemas.Type-1
}

// typeOrder lists every valid type; emitted[t-1] counts type t.
var typeOrder = schemas.Types()

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	skipped, err := vendorkit.NewSkipped(reg, "salesforce", "Salesforce change events deliberately not turned into interactions, by reason.")
	if err != nil {
		return nil, err
	}
	emitted, err := vendorkit.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "salespulse_salesforce_interactions_total",
		Help: "Canonical interactions decoded from Salesforce change events, by type.",
	}, []string{"type"}))
	if err != nil {
		return nil, err
	}
	m := &metrics{skipped: make(map[string]prometheus.Counter, len(skipReasons)), emitted: make([]prometheus.Counter, len(typeOrder))}
	for _, r := range skipReasons {
		m.skipped[r] = skipped.WithLabelValues(r)
	}
	for k, t := range typeOrder {
		m.emitted[k] = emitted.WithLabelValues(t.String())
	}
	return m, nil
}

func (m *metrics) emit(t schemas.Type) {
	if k := int(t) - 1; k >= 0 && k < len(m.emitted) {
		m.emitted[k].Inc()
	}
}
