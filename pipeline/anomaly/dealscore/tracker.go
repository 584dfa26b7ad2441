package dealscore

import "github.com/salespulse/salespulse/schemas"

// Tracker is the feature state of many accounts, for tools and tests that
// read a whole stream (salespulse score, the brute-force checks); the
// anomaly stage keeps Accounts in its own checkpointed state instead.
type Tracker struct {
	Accounts map[string]*Account
	// Examples are the closed deals seen, features as of the close.
	Examples []Example
}

// NewTracker returns an empty tracker.
func NewTracker() *Tracker { return &Tracker{Accounts: map[string]*Account{}} }

// Apply feeds one interaction and returns its account (nil when i is of
// none) and what happened.
func (t *Tracker) Apply(i *schemas.Interaction) (*Account, Event) {
	if !Relevant(i) {
		return nil, None
	}
	a := t.Accounts[i.AccountID]
	if a == nil {
		a = &Account{}
		t.Accounts[i.AccountID] = a
	}
	ev := a.Apply(i)
	if ev == Won || ev == Lost {
		x, _ := a.Features(i.OccurredAt)
		t.Examples = append(t.Examples, Example{ID: a.Opp.ID, At: i.OccurredAt.UnixMilli(), X: x, Won: ev == Won})
		a.Opp = nil
	}
	return a, ev
}
