// Package matrix is the discount authorization matrix: loading and
// validating its YAML file (also for `salespulse config validate`) and
// resolving the authority of a quote or approval. The anomaly detectors
// judge discounts by it.
package matrix

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// Matrix is the discount authorization matrix (deploy/examples/
// authorization-matrix.yml, docs/alerts.md): for each role, optionally
// narrowed to teams, regions, product lines and deal-size tiers, the
// discount above which a quote needs an approved approval and the most the
// role may grant (on its own quotes, with approval) or approve (on others').
type Matrix struct {
	// Tiers are deal-size tiers by the quote's list price (else its
	// amount), in ascending order of UpTo; the last may omit UpTo (no upper
	// bound). Optional: without tiers, limits cannot name tiers.
	Tiers []Tier `yaml:"tiers"`
	// Limits are the authority entries. A quote is judged by the matching
	// entry with the most selectors; among equally specific entries the
	// lowest MaxPct wins, so an ambiguous matrix errs on the strict side.
	Limits []Limit `yaml:"limits"`
}

// Tier is one deal-size tier: amounts up to and including UpTo.
type Tier struct {
	Name string `yaml:"name"`
	// UpTo is the tier's inclusive upper bound in the quote's currency;
	// 0 means unbounded (only the last tier).
	UpTo float64 `yaml:"up_to"`
}

// Limit is one authority entry.
type Limit struct {
	// Role is the org file's role (ae, sdr, manager, director …) or "*"
	// for any role. Required.
	Role string `yaml:"role"`
	// Selectors: an empty list matches everything; otherwise the quote's
	// team id, its team's region, its product_line attribute or its tier
	// must be in the list.
	Teams        []string `yaml:"teams"`
	Regions      []string `yaml:"regions"`
	ProductLines []string `yaml:"product_lines"`
	Tiers        []string `yaml:"tiers"`
	// ApprovalAbovePct: a quote by this role with a larger discount needs
	// an approved approval. Defaults to MaxPct (no approval step).
	ApprovalAbovePct *float64 `yaml:"approval_above_pct"`
	// MaxPct is the role's authority: the largest discount it may grant on
	// its own quotes (with approval above ApprovalAbovePct) and the
	// largest it may approve on others'. Required, 0..100.
	MaxPct *float64 `yaml:"max_pct"`
}

// Subject is what a quote or approval is judged by.
type Subject struct {
	Role        string
	Team        string
	Region      string
	ProductLine string
	Size        float64 // list price, else amount; 0 = unknown (no tier matches a tiered limit)
}

// Authority is the resolved limit for a subject.
type Authority struct {
	ApprovalAbovePct float64
	MaxPct           float64
	Tier             string // the subject's tier, "" when none
	Entry            int    // index in Matrix.Limits
}

// Matrix validation errors, wrapped with the YAML path of the problem.
var (
	ErrRequired  = errors.New("required")
	ErrRange     = errors.New("out of range")
	ErrOrder     = errors.New("out of order")
	ErrDuplicate = errors.New("duplicate")
	ErrUnknown   = errors.New("unknown tier")
	ErrSyntax    = errors.New("invalid YAML")
)

// Load reads and validates the matrix file at path.
func Load(path string) (*Matrix, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load authorization matrix: %w", err)
	}
	m, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("load authorization matrix %s: %w", path, err)
	}
	return m, nil
}

// Parse decodes a matrix strictly (unknown keys are errors: a typo
// like max_pc would otherwise silently drop a limit) and validates it.
func Parse(b []byte) (*Matrix, error) {
	var m Matrix
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Validate returns every problem of m, each wrapped with its YAML path
// (errors.Join), or nil. `salespulse config validate` prints them all.
func (m *Matrix) Validate() error {
	var errs []error
	bad := func(path string, err error, format string, args ...any) {
		if format != "" {
			err = fmt.Errorf("%w: %s", err, fmt.Sprintf(format, args...))
		}
		errs = append(errs, fmt.Errorf("%s: %w", path, err))
	}
	tiers := map[string]bool{}
	prev := math.Inf(-1)
	for k, t := range m.Tiers {
		p := fmt.Sprintf("tiers[%d]", k)
		switch {
		case t.Name == "":
			bad(p+".name", ErrRequired, "")
		case tiers[t.Name]:
			bad(p+".name", ErrDuplicate, "%q", t.Name)
		}
		tiers[t.Name] = true
		switch {
		case t.UpTo < 0 || math.IsNaN(t.UpTo) || math.IsInf(t.UpTo, 0):
			bad(p+".up_to", ErrRange, "%v is negative or not finite", t.UpTo)
		case t.UpTo == 0 && k != len(m.Tiers)-1:
			bad(p+".up_to", ErrRequired, "only the last tier may be unbounded")
		case t.UpTo != 0 && t.UpTo <= prev:
			bad(p+".up_to", ErrOrder, "%v is not above the previous tier's %v", t.UpTo, prev)
		}
		if t.UpTo != 0 {
			prev = t.UpTo
		}
	}
	if len(m.Limits) == 0 {
		bad("limits", ErrRequired, "")
	}
	pct := func(path string, v *float64, required bool) {
		if v == nil {
			if required {
				bad(path, ErrRequired, "")
			}
			return
		}
		if !(*v >= 0 && *v <= 100) {
			bad(path, ErrRange, "%v is not between 0 and 100", *v)
		}
	}
	seen := map[string]int{}
	for k, l := range m.Limits {
		p := fmt.Sprintf("limits[%d]", k)
		if strings.TrimSpace(l.Role) == "" {
			bad(p+".role", ErrRequired, "")
		}
		pct(p+".max_pct", l.MaxPct, true)
		pct(p+".approval_above_pct", l.ApprovalAbovePct, false)
		if l.MaxPct != nil && l.ApprovalAbovePct != nil && *l.ApprovalAbovePct > *l.MaxPct {
			bad(p+".approval_above_pct", ErrRange, "%v is above max_pct %v", *l.ApprovalAbovePct, *l.MaxPct)
		}
		for j, t := range l.Tiers {
			if !tiers[t] {
				bad(fmt.Sprintf("%s.tiers[%d]", p, j), ErrUnknown, "%q is not in tiers", t)
			}
		}
		key := fmt.Sprint(l.Role, l.Teams, l.Regions, l.ProductLines, l.Tiers)
		if j, dup := seen[key]; dup {
			bad(p, ErrDuplicate, "same role and selectors as limits[%d]", j)
		} else {
			seen[key] = k
		}
	}
	return errors.Join(errs...)
}

// TierOf returns the tier name of a deal size ("" without tiers or size).
func (m *Matrix) TierOf(size float64) string {
	if size <= 0 {
		return ""
	}
	for _, t := range m.Tiers {
		if t.UpTo == 0 || size <= t.UpTo {
			return t.Name
		}
	}
	return ""
}

// Lookup resolves the authority for s. ok is false when no entry matches:
// then the quote cannot be judged (counted, never alerted on).
func (m *Matrix) Lookup(s Subject) (a Authority, ok bool) {
	tier := m.TierOf(s.Size)
	best, bestSpec := -1, -1
	for k := range m.Limits {
		l := &m.Limits[k]
		if l.Role != "*" && l.Role != s.Role {
			continue
		}
		if !in(l.Teams, s.Team) || !in(l.Regions, s.Region) || !in(l.ProductLines, s.ProductLine) || !in(l.Tiers, tier) {
			continue
		}
		spec := 0
		if l.Role != "*" {
			spec += 16 // the role is the primary key of the matrix
		}
		for _, sel := range [][]string{l.Teams, l.Regions, l.ProductLines, l.Tiers} {
			if len(sel) > 0 {
				spec++
			}
		}
		if spec > bestSpec || spec == bestSpec && *l.MaxPct < *m.Limits[best].MaxPct {
			best, bestSpec = k, spec
		}
	}
	if best < 0 {
		return Authority{}, false
	}
	l := &m.Limits[best]
	a = Authority{MaxPct: *l.MaxPct, ApprovalAbovePct: *l.MaxPct, Tier: tier, Entry: best}
	if l.ApprovalAbovePct != nil {
		a.ApprovalAbovePct = *l.ApprovalAbovePct
	}
	return a, true
}

func in(list []string, v string) bool {
	if len(list) == 0 {
		return true
	}
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
