package archtest

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The module's real import graph keeps every rule.
func TestImportRules(t *testing.T) {
	module, root, pkgs, err := Load(".")
	if err != nil {
		t.Fatal(err)
	}
	statSources(t, root)
	if !slices.ContainsFunc(pkgs, func(p Package) bool { return p.ImportPath == module+"/pipeline/window" }) {
		t.Fatalf("go list did not list %s/pipeline/window: is Load reading the whole module?", module)
	}
	for _, v := range Check(module, pkgs) {
		t.Errorf("forbidden import: %s", v)
	}
}

// statSources stats every Go file and go.mod under root. go test caches a
// passing result keyed on the files the test itself touched; the imports
// are read by a `go list` child it cannot see, so without this a new
// forbidden import would be answered with the cached PASS.
func statSources(t *testing.T, root string) {
	t.Helper()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata"):
			return filepath.SkipDir
		case d.IsDir():
			return nil
		case strings.HasSuffix(path, ".go") || d.Name() == "go.mod":
			_, err := os.Stat(path)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Each rule fires on a made-up graph holding one forbidden edge of its
// kind, and names itself and the edge; the allowed edges beside it pass.
func TestRulesCatchForbiddenEdges(t *testing.T) {
	const mod = "example.com/sp"
	base := []Package{
		{ImportPath: mod + "/schemas", Imports: []string{"time"}},
		{ImportPath: mod + "/pipeline", Imports: []string{mod + "/schemas"}},
		{ImportPath: mod + "/pipeline/window", Imports: []string{mod + "/schemas", mod + "/pipeline/state"}},
		{ImportPath: mod + "/pipeline/state", Imports: []string{"context"}},
		{ImportPath: mod + "/sources/kafka", Imports: []string{mod + "/schemas", "github.com/twmb/franz-go/pkg/kgo"}},
		{ImportPath: mod + "/sinks/clickhouse", Imports: []string{mod + "/schemas", "github.com/ClickHouse/clickhouse-go/v2"}},
		{ImportPath: mod + "/internal/kafkaio", Imports: []string{mod + "/pipeline/state", "github.com/twmb/franz-go/pkg/kgo"}},
		{ImportPath: mod + "/internal/app", Imports: []string{mod + "/sources/kafka", mod + "/pipeline", mod + "/sinks/clickhouse", mod + "/internal/kafkaio"}},
		{ImportPath: mod + "/cmd/salespulse", Imports: []string{mod + "/internal/app"}},
		{ImportPath: mod + "/benchmarks/cmd/bench", Imports: []string{mod + "/internal/app", "github.com/twmb/franz-go/pkg/kadm"}},
		{ImportPath: mod + "/tests/kbi", TestImports: []string{mod + "/sinks/clickhouse", "github.com/ClickHouse/clickhouse-go/v2"}},
		// A stage's test may drive it with a real client.
		{ImportPath: mod + "/pipeline/anomaly", Imports: []string{mod + "/schemas"}, XTestImports: []string{"github.com/twmb/franz-go/pkg/kfake", mod + "/sources/kafka"}},
		{ImportPath: "github.com/twmb/franz-go/pkg/kgo", Imports: []string{"net"}},
		{ImportPath: "github.com/ClickHouse/clickhouse-go/v2", Imports: []string{"net"}},
	}
	if v := Check(mod, base); len(v) != 0 {
		t.Fatalf("the allowed graph breaks rules: %v", v)
	}
	with := func(pkgs []Package, path string, imports ...string) []Package {
		out := slices.Clone(pkgs)
		for k := range out {
			if out[k].ImportPath == path {
				out[k].Imports = append(slices.Clone(out[k].Imports), imports...)
				return out
			}
		}
		return append(out, Package{ImportPath: path, Imports: imports})
	}
	for name, tc := range map[string]struct {
		pkgs []Package
		rule Rule
		edge string
	}{
		"a stage imports franz-go": {
			with(base, mod+"/pipeline/window", "github.com/twmb/franz-go/pkg/kgo"), RuleStages,
			"pipeline/window -> github.com/twmb/franz-go/pkg/kgo"},
		"a stage reaches clickhouse-go through another package": {
			with(with(base, mod+"/internal/chrows", "github.com/ClickHouse/clickhouse-go/v2"), mod+"/pipeline", mod+"/internal/chrows"), RuleStages,
			"pipeline -> internal/chrows -> github.com/ClickHouse/clickhouse-go/v2"},
		"a stage reaches franz-go through the Kafka-side package": {
			with(base, mod+"/pipeline/window", mod+"/internal/kafkaio"), RuleStages,
			"pipeline/window -> internal/kafkaio -> github.com/twmb/franz-go/pkg/kgo"},
		"a source imports the pipeline": {
			with(base, mod+"/sources/kafka", mod+"/pipeline"), RuleLayers, "sources/kafka -> pipeline"},
		"the pipeline imports a sink": {
			with(base, mod+"/pipeline/window", mod+"/sinks/clickhouse"), RuleLayers, "pipeline/window -> sinks/clickhouse"},
		"a sink imports a source": {
			with(base, mod+"/sinks/clickhouse", mod+"/sources/kafka"), RuleLayers, "sinks/clickhouse -> sources/kafka"},
		"schemas imports the module": {
			with(base, mod+"/schemas", mod+"/pipeline/state"), RuleSchemas, "schemas -> pipeline/state"},
		"a schemas test imports the module": {
			append(slices.Clone(base), Package{ImportPath: mod + "/schemas/ddl", XTestImports: []string{mod + "/schemas", mod + "/sources/gen"}}), RuleSchemas,
			"schemas/ddl -> sources/gen"},
		"clickhouse-go outside the sink": {
			with(base, mod+"/internal/app", "github.com/ClickHouse/clickhouse-go/v2/lib/driver"), RuleClickHouse,
			"internal/app -> github.com/ClickHouse/clickhouse-go/v2/lib/driver"},
		"franz-go outside the Kafka packages": {
			with(base, mod+"/sinks/alert", "github.com/twmb/franz-go/pkg/kgo"), RuleFranz, "sinks/alert -> github.com/twmb/franz-go/pkg/kgo"},
		"the binary imports franz-go instead of wiring the Kafka packages": {
			with(base, mod+"/cmd/salespulse", "github.com/twmb/franz-go/pkg/kgo"), RuleFranz, "cmd/salespulse -> github.com/twmb/franz-go/pkg/kgo"},
	} {
		t.Run(name, func(t *testing.T) {
			vs := Check(mod, tc.pkgs)
			var msgs []string
			for _, v := range vs {
				msgs = append(msgs, v.String())
			}
			want := `rule "` + tc.rule.Name + `" (` + tc.rule.Doc + "): " + tc.edge
			if !slices.Contains(msgs, want) {
				t.Fatalf("want %s\ngot:\n%s", want, strings.Join(msgs, "\n"))
			}
		})
	}
}
