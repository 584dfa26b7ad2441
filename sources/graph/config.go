package graph

import (
	"bytes"
	"errors"
	"fmt"
	"os"
)

// Config configures the Microsoft Graph decoder (sources.graph).
type Config struct {
	// ClientState names where the expected clientState of change
	// notifications is read from: the secret the connector passed when it
	// created its subscriptions, which Graph echoes in every notification
	// so the receiver can tell them from forged ones. At most two entries,
	// the current value and, while subscriptions are being renewed with a
	// new secret, the previous one; a notification matching either is
	// accepted. Empty (the default): notifications are not verified and
	// are counted as outcome "unverified".
	ClientState []Secret `yaml:"client_state"`
}

// Secret is a value kept out of the config file: in the environment
// variable Env, or in the file File (trailing whitespace and newlines
// dropped, as secret mounts often end in one). Exactly one of the two.
type Secret struct {
	Env  string `yaml:"env"`
	File string `yaml:"file"`
}

// maxClientStates is how many clientState values are accepted at once: one
// to rotate to, one to rotate from.
const maxClientStates = 2

// Errors returned (wrapped with the field path) by Config.Validate and
// NewDecoder.
var (
	ErrTooManyClientStates = errors.New("at most two values (the current and the previous one)")
	ErrSecretSource        = errors.New("set exactly one of env and file")
	ErrSecretEmpty         = errors.New("the secret is unset or empty")
)

// SetDefaults fills unset fields with their documented defaults (none: no
// verification unless configured).
func (c *Config) SetDefaults() {}

// Validate checks c after defaults were applied. Environment variables
// must be set (and non-empty) already, as for kafka.sasl.password_env;
// files are read when the decoder is built.
func (c Config) Validate() error {
	if len(c.ClientState) > maxClientStates {
		return fmt.Errorf("client_state: %w", ErrTooManyClientStates)
	}
	for k, s := range c.ClientState {
		if (s.Env == "") == (s.File == "") {
			return fmt.Errorf("client_state[%d]: %w", k, ErrSecretSource)
		}
		if s.Env != "" && os.Getenv(s.Env) == "" {
			return fmt.Errorf("client_state[%d].env: $%s: %w", k, s.Env, ErrSecretEmpty)
		}
	}
	return nil
}

// clientStates reads the configured values.
func (c Config) clientStates() ([][]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var out [][]byte
	for k, s := range c.ClientState {
		var v []byte
		if s.Env != "" {
			v = []byte(os.Getenv(s.Env))
		} else {
			b, err := os.ReadFile(s.File)
			if err != nil {
				return nil, fmt.Errorf("client_state[%d].file: %w", k, err)
			}
			v = bytes.TrimRight(b, " \t\r\n")
		}
		if len(v) == 0 {
			return nil, fmt.Errorf("client_state[%d]: %w", k, ErrSecretEmpty)
		}
		out = append(out, v)
	}
	return out, nil
}
