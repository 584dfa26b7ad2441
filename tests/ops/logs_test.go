package ops

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestLogsCarryNoPersonalData runs after the generator's contacts went
// through the stack: no raw e-mail address, phone number or contact name
// of a generated event may appear in any log line; every line is JSON
// (the format `run` uses) and names its component at most once.
func TestLogsCarryNoPersonalData(t *testing.T) {
	st := startStack(t)
	logs := st.logs.String()
	lines := strings.Split(strings.TrimSpace(logs), "\n")
	if len(lines) == 0 || lines[0] == "" {
		t.Fatal("the stack logged nothing: the test would prove nothing")
	}
	secrets := map[string]string{}
	for _, e := range st.events {
		for _, v := range []string{e.Contact.Email, e.Contact.Phone, e.Contact.Name} {
			if len(v) >= 6 {
				secrets[v] = e.EventID
			}
		}
	}
	if len(secrets) == 0 {
		t.Fatal("the generated events carry no contacts: the test would prove nothing")
	}
	components := map[string]int{}
	for k, line := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line %d is not JSON: %v\n%s", k, err, line)
			continue
		}
		if n := strings.Count(line, `"component":`); n > 1 {
			t.Errorf("log line %d names its component %d times (a logger scoped twice):\n%s", k, n, line)
		}
		if c, ok := rec["component"].(string); ok {
			components[c]++
		}
		for v, id := range secrets {
			if strings.Contains(line, v) {
				t.Errorf("log line %d contains personal data of event %s:\n%s", k, id, line)
			}
		}
	}
	t.Logf("%d log lines, %d personal values checked, components %v", len(lines), len(secrets), components)
}
