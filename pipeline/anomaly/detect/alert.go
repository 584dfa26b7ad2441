package detect

import (
	"time"

	"github.com/salespulse/salespulse/schemas"
)

// Tracked is one alert's lifecycle within a partition: the state machine
// inactive → pending → firing → resolved of Prometheus' alerting rules.
// Only transitions are emitted, so a condition that keeps holding is
// deduplicated into one firing row.
type Tracked struct {
	Alert schemas.Alert
}

// State is the alert's current state.
func (t *Tracked) State() schemas.AlertState { return t.Alert.State }

// to moves t into state s at event time at and returns the row to emit, or
// false when nothing changes (deduplication). Pending and firing set At to
// the event time of the transition; resolved sets EndsAt and keeps At, the
// time it started firing.
func (t *Tracked) to(s schemas.AlertState, at time.Time) (schemas.Alert, bool) {
	if t.Alert.State == s {
		return schemas.Alert{}, false
	}
	switch s {
	case schemas.AlertPending:
		if t.Alert.State == schemas.AlertFiring {
			return schemas.Alert{}, false
		}
		t.Alert.At, t.Alert.EndsAt = at, time.Time{}
	case schemas.AlertFiring:
		t.Alert.At, t.Alert.EndsAt = at, time.Time{}
	case schemas.AlertResolved:
		if t.Alert.State != schemas.AlertFiring {
			// Pending that clears goes back to inactive silently.
			t.Alert.State = schemas.AlertInactive
			return schemas.Alert{}, false
		}
		t.Alert.EndsAt = at
	}
	t.Alert.State = s
	out := t.Alert
	out.EventIDs = append([]string(nil), t.Alert.EventIDs...)
	if t.Alert.Values != nil {
		out.Values = make(map[string]string, len(t.Alert.Values))
		for k, v := range t.Alert.Values {
			out.Values[k] = v
		}
	}
	return out, true
}
