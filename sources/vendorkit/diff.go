package vendorkit

import (
	"fmt"
	"time"

	"github.com/salespulse/salespulse/schemas"
)

// Diff compares an interaction a vendor decoder produced (got) with the
// Record.Expected one (want) and returns "" when got carries
// everything want expects, else a description of the first difference.
// Compared: event id, source, type, channel, occurred_at, rep, team,
// account, lead, approval ids, stage, currency, the optional numbers with
// their presence bits, approved, and the raw contact. Attributes are
// compared only for the keys want has (vendor decoders add their own).
func Diff(want, got *schemas.Interaction) string {
	type f struct {
		name      string
		want, got any
	}
	for _, c := range [...]f{
		{"event_id", want.EventID, got.EventID}, {"source", want.Source, got.Source},
		{"type", want.Type.String(), got.Type.String()}, {"channel", want.Channel.String(), got.Channel.String()},
		{"occurred_at", want.OccurredAt.UTC().Format(time.RFC3339Nano), got.OccurredAt.UTC().Format(time.RFC3339Nano)},
		{"rep_id", want.RepID, got.RepID}, {"team_id", want.TeamID, got.TeamID},
		{"account_id", want.AccountID, got.AccountID}, {"lead_id", want.LeadID, got.LeadID},
		{"approval_id", want.ApprovalID, got.ApprovalID}, {"approver_id", want.ApproverID, got.ApproverID},
		{"stage", want.Stage, got.Stage}, {"currency", want.Currency, got.Currency},
		{"has", want.Has, got.Has}, {"duration_s", want.DurationS, got.DurationS}, {"amount", want.Amount, got.Amount},
		{"list_price", want.ListPrice, got.ListPrice}, {"discount_pct", want.DiscountPct, got.DiscountPct},
		{"approved", want.Approved, got.Approved}, {"contact", want.Contact, got.Contact},
		{"customer", want.Customer, got.Customer},
	} {
		if c.want != c.got {
			return fmt.Sprintf("%s: want %v, got %v", c.name, c.want, c.got)
		}
	}
	for k, v := range want.Attributes {
		if got.Attributes[k] != v {
			return fmt.Sprintf("attributes[%s]: want %q, got %q", k, v, got.Attributes[k])
		}
	}
	return ""
}
