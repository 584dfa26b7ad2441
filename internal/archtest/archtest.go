// Package archtest checks the module's import rules: data flows from
// sources through the pipeline to the sinks, technology stays at the
// edges, and schemas is the ground floor. The rules run in go test (see
// archtest_test.go); Check is a plain function over `go list` output so a
// test can also feed it a made-up package graph and see each rule fire.
package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
)

// Package is the part of `go list -json` output the rules read.
type Package struct {
	ImportPath   string
	Imports      []string // non-test imports
	TestImports  []string // of the package's _test.go files in the same package
	XTestImports []string // of its external _test package
}

// Rule is one import rule; Name is what failures name.
type Rule struct {
	Name string
	Doc  string
}

// The rules. All but RuleSchemas are about the code that ships, so they
// read non-test imports only (a test may wire a real consumer, or drive a
// stage through kfake); schemas is the ground floor for its tests too.
var (
	RuleStages     = Rule{"stages", "stages (pipeline/...) depend on neither franz-go nor clickhouse-go, not even through another package"}
	RuleLayers     = Rule{"layers", "sources/..., pipeline/... and sinks/... do not import each other (cmd/ and internal/app hand one to the other)"}
	RuleSchemas    = Rule{"schemas", "schemas/... imports nothing else of the module (tests included)"}
	RuleClickHouse = Rule{"clickhouse-go", "only sinks/clickhouse and embedded/chdb import clickhouse-go"}
	RuleFranz      = Rule{"franz-go", "only sources/kafka, internal/kafkaio, embedded/ and the measuring tools (benchmarks/, tests/) import franz-go"}
)

// Rules lists every rule, in the order failures are reported.
var Rules = []Rule{RuleStages, RuleLayers, RuleSchemas, RuleClickHouse, RuleFranz}

const (
	franzGo      = "github.com/twmb/franz-go"
	clickhouseGo = "github.com/ClickHouse/"
)

// Violation is one forbidden edge: Path runs from the offending package to
// the package it must not reach (more than two elements when the edge is
// indirect). Module packages are named relative to the module.
type Violation struct {
	Rule Rule
	Path []string
}

// Pkg is the offending package.
func (v Violation) Pkg() string { return v.Path[0] }

func (v Violation) String() string {
	return fmt.Sprintf("rule %q (%s): %s", v.Rule.Name, v.Rule.Doc, strings.Join(v.Path, " -> "))
}

// Check applies every rule to the module's packages in pkgs (the output of
// `go list -json -deps`, which also holds the third-party and standard
// packages indirect edges run through) and returns the violations.
func Check(module string, pkgs []Package) []Violation {
	rel := func(p string) string {
		if p == module {
			return "."
		}
		if r, ok := strings.CutPrefix(p, module+"/"); ok {
			return r
		}
		return p
	}
	ours := func(p string) bool { return p == module || strings.HasPrefix(p, module+"/") }
	byPath := make(map[string]*Package, len(pkgs))
	for k := range pkgs {
		byPath[pkgs[k].ImportPath] = &pkgs[k]
	}
	var out []Violation
	add := func(r Rule, path ...string) {
		rp := make([]string, len(path))
		for k, p := range path {
			rp[k] = rel(p)
		}
		out = append(out, Violation{Rule: r, Path: rp})
	}
	for _, p := range pkgs {
		if !ours(p.ImportPath) {
			continue
		}
		me := rel(p.ImportPath)
		if under(me, "pipeline") {
			for _, tech := range []string{franzGo, clickhouseGo} {
				if path := shortestPath(byPath, p.ImportPath, func(q string) bool { return under(q, strings.TrimSuffix(tech, "/")) }); path != nil {
					add(RuleStages, path...)
				}
			}
		}
		if layer := layerOf(me); layer != "" {
			for _, imp := range p.Imports {
				if l := layerOf(rel(imp)); ours(imp) && l != "" && l != layer {
					add(RuleLayers, p.ImportPath, imp)
				}
			}
		}
		if under(me, "schemas") {
			for _, imp := range slices.Concat(p.Imports, p.TestImports, p.XTestImports) {
				if ours(imp) && !under(rel(imp), "schemas") {
					add(RuleSchemas, p.ImportPath, imp)
				}
			}
		}
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, clickhouseGo) && !under(me, "sinks/clickhouse", "embedded/chdb") {
				add(RuleClickHouse, p.ImportPath, imp)
			}
			if under(imp, franzGo) && !under(me, "sources/kafka", "internal/kafkaio", "embedded", "benchmarks", "tests") {
				add(RuleFranz, p.ImportPath, imp)
			}
		}
	}
	order := func(r Rule) int { return slices.IndexFunc(Rules, func(x Rule) bool { return x.Name == r.Name }) }
	slices.SortStableFunc(out, func(a, b Violation) int {
		if c := order(a.Rule) - order(b.Rule); c != 0 {
			return c
		}
		return strings.Compare(strings.Join(a.Path, " "), strings.Join(b.Path, " "))
	})
	return slices.CompactFunc(out, func(a, b Violation) bool {
		return a.Rule.Name == b.Rule.Name && slices.Equal(a.Path, b.Path)
	})
}

// under reports whether path is one of dirs or inside one of them.
func under(path string, dirs ...string) bool {
	for _, d := range dirs {
		if path == d || strings.HasPrefix(path, d+"/") {
			return true
		}
	}
	return false
}

// layerOf is the data-flow layer of a module-relative path, or "".
func layerOf(rel string) string {
	for _, l := range []string{"sources", "pipeline", "sinks"} {
		if under(rel, l) {
			return l
		}
	}
	return ""
}

// shortestPath returns the shortest non-test import chain from start to a
// package matching target, or nil.
func shortestPath(byPath map[string]*Package, start string, target func(string) bool) []string {
	prev := map[string]string{start: ""}
	queue := []string{start}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		p := byPath[cur]
		if p == nil {
			continue
		}
		for _, imp := range p.Imports {
			if _, seen := prev[imp]; seen {
				continue
			}
			prev[imp] = cur
			if target(imp) {
				var path []string
				for q := imp; q != ""; q = prev[q] {
					path = append(path, q)
				}
				slices.Reverse(path)
				return path
			}
			queue = append(queue, imp)
		}
	}
	return nil
}

// Load runs `go list -json -deps` for every package of the module that
// holds dir and returns the module path, its root directory and every
// package listed, the module's own and what they depend on. -test is not used: test imports are read from the
// module packages' TestImports and XTestImports.
func Load(dir string) (module, root string, pkgs []Package, err error) {
	run := func(args ...string) ([]byte, error) {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, stderr.Bytes())
		}
		return out, nil
	}
	m, err := run("list", "-m", "-f", "{{.Path}}\n{{.Dir}}")
	if err != nil {
		return "", "", nil, err
	}
	module, root, _ = strings.Cut(strings.TrimSpace(string(m)), "\n")
	dir = root
	out, err := run("list", "-e", "-json=ImportPath,Imports,TestImports,XTestImports", "-deps", "./...")
	if err != nil {
		return "", "", nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p Package
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return "", "", nil, fmt.Errorf("decode go list output: %w", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		return "", "", nil, errors.New("go list listed no packages")
	}
	return module, root, pkgs, nil
}
