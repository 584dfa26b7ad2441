package salesforce

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/vendorkit/kittest"
)

// testOrg knows some of the users in testdata; 005UNKNOWN0000000A and the
// integration user 005INTEGRATION0001 are deliberately not in it.
func testIndex() *schemas.Index {
	return schemas.NewIndex(&schemas.Org{
		Teams: []schemas.Team{{ID: "team-emea", Name: "EMEA", ManagerID: "rep-mgr"}},
		Reps: []schemas.Rep{
			{ID: "rep-ana", TeamID: "team-emea", SalesforceUserIDs: []string{"005ZM000000M6o1YAC"}},
			{ID: "rep-ben", TeamID: "team-emea", SalesforceUserIDs: []string{"005SM000000146PYAQ"}},
			{ID: "rep-cho", TeamID: "team-emea", SalesforceUserIDs: []string{"005SM000000146QYAQ", "0056100000AbCdEAAV"}},
		},
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

// TestGolden decodes every payload in testdata (the shared vendor fixtures
// copied verbatim plus hand-made variants) and compares the canonical events
// and errors with testdata/<name>.golden.json. Rewrite with -update.
func TestGolden(t *testing.T) {
	d := newTestDecoder(t, Config{})
	for _, path := range kittest.Inputs(t, "testdata") {
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		t.Run(name, func(t *testing.T) {
			value, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got, err := d.Decode(nil, value)
			if err != nil && !errors.Is(err, schemas.ErrInvalid) {
				t.Fatalf("error is not a FieldError: %v", err)
			}
			for k := range got {
				if verr := got[k].Validate(); verr != nil {
					t.Errorf("event %d invalid: %v", k, verr)
				}
			}
			// Decoding into a reused, dirty destination must give the same
			// result: slots are reset before reuse.
			dirty := make([]schemas.Interaction, 1, 16)
			dirty = append(dirty[:0], schemas.Interaction{EventID: "x", RepID: "stale", Attributes: map[string]string{"stale": "1"}})
			dirty = dirty[:0]
			again, err2 := d.Decode(dirty, value)
			if (err == nil) != (err2 == nil) || len(again) != len(got) {
				t.Fatalf("second decode differs: %v / %v", err, err2)
			}
			kittest.Compare(t, "testdata", name, kittest.Canonical(got, err))
			if !equalResults(kittest.Canonical(got, err), kittest.Canonical(again, err2)) {
				t.Errorf("decoding into a reused destination changed the result")
			}
		})
	}
}

func equalResults(a, b kittest.Result) bool {
	ja, jb := kittest.Marshal(a), kittest.Marshal(b)
	return string(ja) == string(jb)
}
