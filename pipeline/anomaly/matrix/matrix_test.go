package matrix

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func TestMatrixGood(t *testing.T) {
	m, err := Load("testdata/matrix.good.yml")
	if err != nil {
		t.Fatal(err)
	}
	f := func(s Subject, wantOK bool, approval, max float64, tier string) {
		t.Helper()
		a, ok := m.Lookup(s)
		if ok != wantOK || ok && (a.ApprovalAbovePct != approval || a.MaxPct != max || a.Tier != tier) {
			t.Fatalf("Lookup(%+v) = %+v, %v; want approval %v max %v tier %q ok %v", s, a, ok, approval, max, tier, wantOK)
		}
	}
	f(Subject{Role: "ae", Size: 20000}, true, 10, 25, "small")                       // tier bound is inclusive
	f(Subject{Role: "ae", Size: 20000.01}, true, 15, 30, "large")                    // the tiered entry is more specific
	f(Subject{Role: "ae"}, true, 10, 25, "")                                         // unknown size: untiered entry
	f(Subject{Role: "ae", ProductLine: "hardware", Size: 1e6}, true, 5, 12, "large") // equally specific: the stricter wins
	f(Subject{Role: "manager"}, true, 25, 25, "")                                    // approval_above defaults to max
	f(Subject{Role: "intern"}, false, 0, 0, "")
	f(Subject{Role: ""}, false, 0, 0, "")
}

func TestMatrixWildcardRole(t *testing.T) {
	m, err := Parse([]byte("limits:\n  - role: '*'\n    max_pct: 5\n  - role: ae\n    max_pct: 20\n"))
	if err != nil {
		t.Fatal(err)
	}
	if a, ok := m.Lookup(Subject{Role: "ae"}); !ok || a.MaxPct != 20 {
		t.Fatalf("a named role beats the wildcard: %+v %v", a, ok)
	}
	if a, ok := m.Lookup(Subject{Role: "unknown"}); !ok || a.MaxPct != 5 {
		t.Fatalf("wildcard: %+v %v", a, ok)
	}
}

func TestMatrixBadReportsEveryProblemWithItsPath(t *testing.T) {
	b, err := os.ReadFile("testdata/matrix.bad.yml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Parse(b)
	if err == nil {
		t.Fatal("bad matrix accepted")
	}
	for _, want := range []struct {
		path string
		err  error
	}{
		{"tiers[1].up_to", ErrRequired},
		{"tiers[2].name", ErrDuplicate},
		{"tiers[2].up_to", ErrOrder},
		{"limits[0].role", ErrRequired},
		{"limits[0].max_pct", ErrRange},
		{"limits[1].approval_above_pct", ErrRange},
		{"limits[1].tiers[0]", ErrUnknown},
		{"limits[2].max_pct", ErrRequired},
		{"limits[3]", ErrDuplicate},
	} {
		found := false
		for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
			if strings.HasPrefix(e.Error(), want.path+": ") && errors.Is(e, want.err) {
				found = true
			}
		}
		if !found {
			t.Errorf("missing %s: %v in\n%v", want.path, want.err, err)
		}
	}
}

func TestMatrixRejectsUnknownKeys(t *testing.T) {
	_, err := Parse([]byte("limits:\n  - role: ae\n    max_pc: 5\n"))
	if !errors.Is(err, ErrSyntax) {
		t.Fatalf("typo accepted: %v", err)
	}
	if _, err := Parse([]byte("tiers: []\n")); !errors.Is(err, ErrRequired) {
		t.Fatalf("empty limits: %v", err)
	}
}

func TestDeployExampleMatrixIsValid(t *testing.T) {
	m, err := Load("../../../deploy/examples/authorization-matrix.yml")
	if err != nil {
		t.Fatal(err)
	}
	if a, ok := m.Lookup(Subject{Role: "manager", Region: "na", Size: 200000}); !ok || a.MaxPct != 30 {
		t.Fatalf("%+v %v", a, ok)
	}
}
