package alert

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/salespulse/salespulse/schemas"
)

// actions returns the elements of the message's actions block, nil if none.
func actions(t *testing.T, msg map[string]any) []any {
	t.Helper()
	for _, b := range msg["blocks"].([]any) {
		if b := b.(map[string]any); b["type"] == "actions" {
			return b["elements"].([]any)
		}
	}
	return nil
}

// With the endpoint configured a firing SLA breach gets an Acknowledge
// button whose value names the alert and the lead; resolved, escalated,
// acknowledged alerts and hooks without the endpoint get none.
func TestSlackAckButton(t *testing.T) {
	firing := testMessage(schemas.AlertFiring)
	_, sl := body(t, slack{url: "http://s", ack: true}, firing)
	el := actions(t, sl)
	if len(el) != 1 {
		t.Fatalf("buttons: %v", sl)
	}
	btn := el[0].(map[string]any)
	if btn["action_id"] != AckActionID+":abc" || btn["value"] != "abc:L1" {
		t.Fatalf("button %v", btn)
	}
	if a, l, ok := ParseAckValue(btn["value"].(string)); !ok || a != "abc" || l != "L1" {
		t.Fatalf("ParseAckValue: %q %q %v", a, l, ok)
	}
	for name, m := range map[string]func(*Message){
		"resolved":     func(m *Message) { m.State = "resolved" },
		"escalated":    func(m *Message) { m.Rule = "lead_response_sla_escalated" },
		"acknowledged": func(m *Message) { m.Values = map[string]string{"lead_id": "L1", "acknowledged_at": "x"} },
		"no lead id":   func(m *Message) { m.Values = map[string]string{} },
	} {
		x := testMessage(schemas.AlertFiring)
		m(&x)
		if _, sl := body(t, slack{url: "http://s", ack: true}, x); actions(t, sl) != nil {
			t.Errorf("%s: got a button", name)
		}
	}
	if _, sl := body(t, slack{url: "http://s"}, firing); actions(t, sl) != nil {
		t.Error("a button without the endpoint")
	}

	d := &Digest{Kind: "digest", GroupKey: "g1", Title: "Team team-3: 2 leads past SLA",
		Firing: []Message{testMessage(schemas.AlertFiring), testMessage(schemas.AlertFiring)}, Reason: reasonInitial, At: now}
	d.Firing[1].ID, d.Firing[1].Values = "def", map[string]string{"lead_id": "L2"}
	req, err := slack{url: "http://s", ack: true}.digest(context.Background(), d, now)
	if err != nil {
		t.Fatal(err)
	}
	var dm map[string]any
	b, _ := io.ReadAll(req.Body)
	if err := json.Unmarshal(b, &dm); err != nil {
		t.Fatal(err)
	}
	el = actions(t, dm)
	if len(el) != 2 || el[1].(map[string]any)["value"] != "def:L2" || el[1].(map[string]any)["text"].(map[string]any)["text"] != "Acknowledge L2" {
		t.Fatalf("digest buttons %v", el)
	}
}

func TestAckConfig(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ACK_TEST_TOKEN", "tok")
	t.Setenv("ACK_TEST_EMPTY", "")
	f := func(name string, a AckConfig, want error) {
		t.Helper()
		c := Config{Ack: a}
		if err := c.Validate(); !errors.Is(err, want) {
			t.Errorf("%s: err = %v, want %v", name, err, want)
		}
	}
	f("off", AckConfig{}, nil)
	f("loopback without a token", AckConfig{Listen: "127.0.0.1:8081"}, nil)
	f("localhost without a token", AckConfig{Listen: "localhost:8081"}, nil)
	f("all interfaces need a token", AckConfig{Listen: ":8081"}, ErrAckToken)
	f("a token from the env", AckConfig{Listen: "0.0.0.0:8081", TokenEnv: "ACK_TEST_TOKEN"}, nil)
	f("a token from a file", AckConfig{Listen: "10.0.0.1:8081", TokenFile: tokenFile}, nil)
	f("an empty variable", AckConfig{Listen: "127.0.0.1:8081", TokenEnv: "ACK_TEST_EMPTY"}, ErrAckSecretEmpty)
	f("a missing file", AckConfig{Listen: "127.0.0.1:8081", SlackSigningSecretFile: filepath.Join(dir, "nope")}, ErrAckSecretEmpty)
	f("both sources", AckConfig{Listen: "127.0.0.1:8081", TokenEnv: "ACK_TEST_TOKEN", TokenFile: tokenFile}, ErrAckSecretSource)
	f("not host:port", AckConfig{Listen: "8081"}, ErrAckListen)

	c := Config{Ack: AckConfig{Listen: ":1", TokenFile: tokenFile}}
	c.SetDefaults()
	if c.Ack.Token != "s3cret" {
		t.Fatalf("token %q", c.Ack.Token)
	}
}
