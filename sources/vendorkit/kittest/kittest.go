// Package kittest holds the golden-file helpers the vendor normalisers'
// tests share. It has no Kafka in it: a golden test feeds one record value to
// a decoder and compares the canonical events (and error) it produced with
// testdata/<name>.golden.json, rewritten with `go test -update`.
package kittest

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/salespulse/salespulse/schemas"
)

// Update rewrites golden files instead of comparing against them.
var Update = flag.Bool("update", false, "rewrite testdata/*.golden.json")

// Event is the canonical JSON form of a schemas.Interaction (field names as
// in docs/canonical-schema.md), with optional fields omitted when absent.
type Event struct {
	EventID     string            `json:"event_id"`
	OccurredAt  string            `json:"occurred_at"`
	Source      string            `json:"source"`
	Type        string            `json:"type"`
	Channel     string            `json:"channel"`
	Direction   string            `json:"direction,omitempty"`
	RepID       string            `json:"rep_id,omitempty"`
	TeamID      string            `json:"team_id,omitempty"`
	AccountID   string            `json:"account_id,omitempty"`
	LeadID      string            `json:"lead_id,omitempty"`
	Stage       string            `json:"stage,omitempty"`
	Currency    string            `json:"currency,omitempty"`
	DurationS   *float64          `json:"duration_s,omitempty"`
	Amount      *float64          `json:"amount,omitempty"`
	ListPrice   *float64          `json:"list_price,omitempty"`
	DiscountPct *float64          `json:"discount_pct,omitempty"`
	Contact     *Contact          `json:"contact,omitempty"`
	Attributes  map[string]string `json:"attributes,omitempty"`
}

// Contact is the raw contact as the decoder left it (before pseudonymisation).
type Contact struct {
	Email string `json:"email,omitempty"`
	Phone string `json:"phone,omitempty"`
	Name  string `json:"name,omitempty"`
}

// Result is what one golden file holds.
type Result struct {
	Events []Event  `json:"events"`
	Errors []string `json:"errors,omitempty"`
}

// Canonical converts interactions to their golden form.
func Canonical(in []schemas.Interaction, err error) Result {
	r := Result{Events: []Event{}}
	for k := range in {
		i := &in[k]
		e := Event{
			EventID: i.EventID, OccurredAt: i.OccurredAt.UTC().Format(time.RFC3339Nano), Source: i.Source,
			Type: i.Type.String(), Channel: i.Channel.String(), Direction: i.Direction(), RepID: i.RepID,
			TeamID: i.TeamID, AccountID: i.AccountID, LeadID: i.LeadID, Stage: i.Stage, Currency: i.Currency,
		}
		f := func(bit uint16, v float64) *float64 {
			if i.Has&bit == 0 {
				return nil
			}
			return &v
		}
		e.DurationS, e.Amount, e.ListPrice, e.DiscountPct = f(schemas.HasDuration, i.DurationS), f(schemas.HasAmount, i.Amount), f(schemas.HasListPrice, i.ListPrice), f(schemas.HasDiscount, i.DiscountPct)
		if !i.Contact.IsZero() {
			e.Contact = &Contact{Email: i.Contact.Email, Phone: i.Contact.Phone, Name: i.Contact.Name}
		}
		if len(i.Attributes) > 0 {
			e.Attributes = i.Attributes
		}
		r.Events = append(r.Events, e)
	}
	if err != nil {
		// One line per joined error, in a stable order.
		r.Errors = strings.Split(err.Error(), "\n")
		sort.Strings(r.Errors)
	}
	return r
}

// Compare checks got against testdata/<name>.golden.json, or rewrites the
// file when -update is set.
func Compare(t testing.TB, dir, name string, got Result) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	path := filepath.Join(dir, name+".golden.json")
	if *Update {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run go test -update to create it): %v", err)
	}
	if !bytes.Equal(want, b) {
		t.Errorf("%s: decoded events differ from golden file (go test -update rewrites it)\n--- got\n%s\n--- want\n%s", name, b, want)
	}
}

// Inputs lists the payload files of dir (*.json that are not goldens).
func Inputs(t testing.TB, dir string) []string {
	t.Helper()
	all, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range all {
		if !strings.HasSuffix(p, ".golden.json") {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no payloads in %s", dir)
	}
	return out
}

// Marshal renders r as the golden file does.
func Marshal(r Result) []byte {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}
