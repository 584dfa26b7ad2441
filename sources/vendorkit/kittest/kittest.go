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

	"github.com/salespulse/salespulse/schemas"
)

// Update rewrites golden files instead of comparing against them.
var Update = flag.Bool("update", false, "rewrite testdata/*.golden.json")

// Result is what one golden file holds: the events in canonical JSON, as
// schemas.AppendJSON writes them (the same bytes producers and the
// canonical source use), and the error lines.
type Result struct {
	Events []json.RawMessage `json:"events"`
	Errors []string          `json:"errors,omitempty"`
}

// Canonical converts interactions to their golden form.
func Canonical(in []schemas.Interaction, err error) Result {
	r := Result{Events: []json.RawMessage{}}
	for k := range in {
		r.Events = append(r.Events, schemas.AppendJSON(nil, &in[k]))
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
	CompareBytes(t, filepath.Join(dir, name+".golden.json"), Marshal(got))
}

// CompareBytes checks got against the golden file path, or rewrites the
// file when -update is set.
func CompareBytes(t testing.TB, path string, got []byte) {
	t.Helper()
	if *Update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run go test -update to create it): %v", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s: decoded events differ from golden file (go test -update rewrites it)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// Inputs lists the payload files of dir: names ending in one of exts
// (default ".json"), golden files excluded.
func Inputs(t testing.TB, dir string, exts ...string) []string {
	t.Helper()
	if len(exts) == 0 {
		exts = []string{".json"}
	}
	var out []string
	for _, ext := range exts {
		all, err := filepath.Glob(filepath.Join(dir, "*"+ext))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range all {
			if !strings.HasSuffix(p, ".golden.json") {
				out = append(out, p)
			}
		}
	}
	sort.Strings(out)
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
