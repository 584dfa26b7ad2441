package detect

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/salespulse/salespulse/schemas"
)

// AlertID is the stable id of an alert: a hash of the rule and the ids of
// its subject (quote event id, lead id and trigger event id, approval id,
// rep id and the event that opened the episode). The same input always
// yields the same id, so a replay rewrites the same ClickHouse row and hooks
// can use it as their idempotency key.
func AlertID(rule string, subject ...string) string {
	h := sha256.New()
	h.Write([]byte("salespulse/alert/v1\x00"))
	h.Write([]byte(rule))
	for _, s := range subject {
		h.Write([]byte{0})
		h.Write([]byte(s))
	}
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}

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
	if !t.move(s, at) {
		return schemas.Alert{}, false
	}
	return t.snapshot(), true
}

// move is to without the row: whether t changed state.
func (t *Tracked) move(s schemas.AlertState, at time.Time) bool {
	if t.Alert.State == s {
		return false
	}
	switch s {
	case schemas.AlertPending:
		if t.Alert.State == schemas.AlertFiring {
			return false
		}
		t.Alert.At, t.Alert.EndsAt = at, time.Time{}
	case schemas.AlertFiring:
		t.Alert.At, t.Alert.EndsAt = at, time.Time{}
	case schemas.AlertResolved:
		if t.Alert.State != schemas.AlertFiring {
			// Pending that clears goes back to inactive silently.
			t.Alert.State = schemas.AlertInactive
			return false
		}
		t.Alert.EndsAt = at
	}
	t.Alert.State = s
	return true
}

// snapshot is a copy of t's alert that shares no slice or map with it.
func (t *Tracked) snapshot() schemas.Alert {
	out := t.Alert
	out.EventIDs = append([]string(nil), t.Alert.EventIDs...)
	if t.Alert.Values != nil {
		out.Values = make(map[string]string, len(t.Alert.Values))
		for k, v := range t.Alert.Values {
			out.Values[k] = v
		}
	}
	return out
}
