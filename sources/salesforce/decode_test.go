package salesforce

import (
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

// suite is the checks the vendor normalisers' tests share (kittest).
func suite(tb testing.TB) kittest.Suite {
	d := newTestDecoder(tb, Config{})
	return kittest.Suite{Decode: d.Decode, Source: Source, IDPrefix: "sf:"}
}

// TestGolden decodes every payload in testdata (the shared vendor fixtures
// copied verbatim plus hand-made variants) and compares the canonical events
// and errors with testdata/<name>.golden.json; decoding into a reused,
// dirty destination must give the same. Rewrite with -update.
func TestGolden(t *testing.T) { suite(t).Golden(t) }
