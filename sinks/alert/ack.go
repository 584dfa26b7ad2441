package alert

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
)

// AckConfig is alerts.ack: the acknowledgement endpoint (docs/alerts.md,
// "Acknowledgement"). An acknowledgement becomes an alert.acknowledged
// event on a canonical topic, so the SLA detector reads it from the log
// like any event and a replay decides as the live run did. When Listen is
// set, Slack messages of alerts that can escalate carry an "Acknowledge"
// button.
type AckConfig struct {
	// Listen is the host:port the endpoint serves on. Empty: off
	// (salespulse dev defaults to 127.0.0.1:8081).
	Listen string `yaml:"listen"`
	// TokenEnv names the environment variable, TokenFile the file, that
	// holds the bearer token POST /api/v1/alerts/{id}/ack requires. One
	// of them is required unless Listen is a loopback address; without
	// a token, only loopback, the API takes any caller.
	TokenEnv  string `yaml:"token_env"`
	TokenFile string `yaml:"token_file"`
	// SlackSigningSecretEnv / SlackSigningSecretFile hold the Slack
	// app's signing secret; POST /slack/actions is served only with one.
	SlackSigningSecretEnv  string `yaml:"slack_signing_secret_env"`
	SlackSigningSecretFile string `yaml:"slack_signing_secret_file"`
	// Topic is the canonical topic acknowledgements are written to.
	// Default: the configured topic with the canonical decoder (the app
	// checks that it is one).
	Topic string `yaml:"topic"`

	// Token and SlackSigningSecret are the secrets read from the env or
	// file (SetDefaults); tests may set them directly. Not in YAML.
	Token              string `yaml:"-"`
	SlackSigningSecret string `yaml:"-"`
}

// Acknowledgement configuration errors.
var (
	// ErrAckListen: listen is not host:port.
	ErrAckListen = errors.New("must be host:port")
	// ErrAckToken: the endpoint listens beyond loopback without a token.
	ErrAckToken = errors.New("required when listen is not a loopback address (anyone who reaches it could acknowledge)")
	// ErrAckSecretSource: both the _env and the _file key are set.
	ErrAckSecretSource = errors.New("set only one of _env and _file")
	// ErrAckSecretEmpty: the named variable or file is unset or empty.
	ErrAckSecretEmpty = errors.New("names an unset or empty variable or file")
)

// Enabled reports whether the endpoint is configured.
func (a *AckConfig) Enabled() bool { return a.Listen != "" }

// secret reads a secret from the variable env or the file; "" if neither
// is named.
func secret(env, file string) (string, error) {
	switch {
	case env != "" && file != "":
		return "", ErrAckSecretSource
	case env != "":
		if v := os.Getenv(env); v != "" {
			return v, nil
		}
		return "", fmt.Errorf("%w: %q", ErrAckSecretEmpty, env)
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%w: %w", ErrAckSecretEmpty, err)
		}
		if v := strings.TrimSpace(string(b)); v != "" {
			return v, nil
		}
		return "", fmt.Errorf("%w: %q", ErrAckSecretEmpty, file)
	}
	return "", nil
}

func (a *AckConfig) setDefaults() {
	if a.Token == "" {
		a.Token, _ = secret(a.TokenEnv, a.TokenFile)
	}
	if a.SlackSigningSecret == "" {
		a.SlackSigningSecret, _ = secret(a.SlackSigningSecretEnv, a.SlackSigningSecretFile)
	}
}

// validate checks a as setDefaults completed it.
func (a *AckConfig) validate() error {
	if !a.Enabled() {
		return nil
	}
	host, _, err := net.SplitHostPort(a.Listen)
	if err != nil {
		return fmt.Errorf("alerts.ack.listen: %w: %q", ErrAckListen, a.Listen)
	}
	if _, err := secret(a.TokenEnv, a.TokenFile); err != nil && a.Token == "" {
		return fmt.Errorf("alerts.ack.token_env/token_file: %w", err)
	}
	if _, err := secret(a.SlackSigningSecretEnv, a.SlackSigningSecretFile); err != nil && a.SlackSigningSecret == "" {
		return fmt.Errorf("alerts.ack.slack_signing_secret_env/_file: %w", err)
	}
	if a.Token == "" && !Loopback(host) {
		return fmt.Errorf("alerts.ack.token_env: %w", ErrAckToken)
	}
	return nil
}

// Loopback reports whether host (of a listen address) only takes
// connections from this machine.
func Loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Acknowledge button: the Slack action it posts to the endpoint's
// /slack/actions carries AckActionID and the value AckValue.
const (
	AckActionID = "salespulse_ack"
	ruleSLA     = "lead_response_sla" // the rule whose escalation an ack stops
)

// AckValue is the button value of alert id for lead: the id is hex, so
// the first ':' separates them (a lead id may hold any character).
func AckValue(alertID, leadID string) string { return alertID + ":" + leadID }

// ParseAckValue splits an AckValue.
func ParseAckValue(v string) (alertID, leadID string, ok bool) {
	alertID, leadID, ok = strings.Cut(v, ":")
	return alertID, leadID, ok && alertID != "" && leadID != ""
}

// ackable reports whether m gets an Acknowledge button: a firing SLA
// breach whose escalation is still ahead, not acknowledged yet.
func ackable(m *Message) bool {
	return m.Rule == ruleSLA && m.State == "firing" && m.Values["lead_id"] != "" && m.Values["acknowledged_at"] == ""
}

// ackButton is the Block Kit button acknowledging m.
func ackButton(m *Message, text string) map[string]any {
	return map[string]any{
		"type": "button", "action_id": AckActionID + ":" + m.ID, "style": "primary",
		"text":  map[string]any{"type": "plain_text", "text": truncate(text, 75)},
		"value": AckValue(m.ID, m.Values["lead_id"]),
	}
}
