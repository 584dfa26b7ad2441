package ops

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildBinary builds cmd/salespulse once per test run.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "salespulse")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/salespulse")
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestConfigCommands: `salespulse config example` prints a config that
// `salespulse config validate` accepts once the privacy key is in the
// environment, and validate prints every problem of a broken file with its
// path and exits 1.
func TestConfigCommands(t *testing.T) {
	bin := buildBinary(t)
	run := func(env []string, args ...string) (string, string, int) {
		cmd := exec.Command(bin, args...)
		cmd.Dir = repoRoot(t)
		cmd.Env = append(os.Environ(), env...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return stdout.String(), stderr.String(), code
	}
	example, _, code := run(nil, "config", "example")
	if code != 0 || !strings.Contains(example, "kafka:") {
		t.Fatalf("config example: exit %d\n%s", code, example)
	}
	file := filepath.Join(t.TempDir(), "salespulse.yml")
	if err := os.WriteFile(file, []byte(example), 0o644); err != nil {
		t.Fatal(err)
	}
	key := "SALESPULSE_PRIVACY_KEY=ops-test-key-0123456789abcdef0123456789abcdef"
	if out, errOut, code := run([]string{key}, "config", "validate", file); code != 0 || !strings.Contains(out, "is valid") {
		t.Errorf("config validate of the example: exit %d\n%s%s", code, out, errOut)
	}
	// Without the key the example is rejected, naming where the key is read.
	if _, errOut, code := run([]string{"SALESPULSE_PRIVACY_KEY="}, "config", "validate", file); code != 1 || !strings.Contains(errOut, "privacy.key.env SALESPULSE_PRIVACY_KEY: no key") {
		t.Errorf("config validate without the key: exit %d\n%s", code, errOut)
	}
	_, errOut, code := run([]string{key}, "config", "validate", "internal/app/testdata/every_problem.bad.yml")
	if code != 1 {
		t.Errorf("config validate of a bad file: exit %d, want 1", code)
	}
	for _, want := range []string{
		"kafka.brokers: at least one broker is required",
		`kafka.start_offset "beginning"`,
		`clickhouse.protocol: must be "native" or "http"`,
		"pipeline.workers: must be >= 0",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("config validate output lacks %q:\n%s", want, errOut)
		}
	}
}
