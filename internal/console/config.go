// Package console serves the sales console: a read-only JSON API under
// /api/v1/ over the KBI views, the alerts and the lead journeys in
// ClickHouse, a live alert stream (server-sent events), the acknowledgement
// endpoint forwarded to internal/ack, and the browser UI's static assets.
// docs/console.md is its reference.
package console

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"
)

// Config is the `console:` section.
type Config struct {
	// Listen is the console's listen address (host:port). Empty turns the
	// console off (the default for `run`; `salespulse dev` listens on
	// 127.0.0.1:8090 unless --console-addr says otherwise).
	Listen string `yaml:"listen"`
	// Auth protects every path, the assets included. Required (not "none")
	// when Listen is not a loopback address.
	Auth AuthConfig `yaml:"auth"`
	// MaxExecutionTime bounds every query (ClickHouse's max_execution_time,
	// whole seconds, at least 1). Default 5s.
	MaxExecutionTime time.Duration `yaml:"max_execution_time"`
	// MaxRows is the LIMIT of every query, and so the most rows one
	// response carries. Default 10000.
	MaxRows int `yaml:"max_rows"`
}

// AuthConfig selects how callers authenticate. The secret is never in the
// file itself: it is read from an environment variable or a file.
type AuthConfig struct {
	// Mode is "none" (default), "bearer" (Authorization: Bearer <token>)
	// or "basic" (user and password).
	Mode string `yaml:"mode"`
	// TokenEnv or TokenFile holds the bearer token (exactly one).
	TokenEnv  string `yaml:"token_env"`
	TokenFile string `yaml:"token_file"`
	// User is the basic-auth user name; PasswordEnv or PasswordFile holds
	// its password (exactly one).
	User         string `yaml:"user"`
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
}

// The auth modes.
const (
	AuthNone   = "none"
	AuthBearer = "bearer"
	AuthBasic  = "basic"
)

// Validation errors, wrapped with the key's path ("console.auth.mode: ...").
var (
	ErrListen = errors.New("must be host:port")
	ErrMode   = errors.New(`must be "none", "bearer" or "basic"`)
	// ErrAuthRequired: the console listens beyond loopback with auth none,
	// which would publish the sales data to the network.
	ErrAuthRequired = errors.New(`must be "bearer" or "basic" when console.listen is not a loopback address`)
	// ErrSecretSource: a secret needs exactly one of its _env and _file keys.
	ErrSecretSource = errors.New("set exactly one of the _env and _file keys")
	// ErrSecretEnv: the named environment variable is unset or empty.
	ErrSecretEnv = errors.New("environment variable is unset or empty")
	// ErrSecretFile: the named file cannot be read or is empty.
	ErrSecretFile = errors.New("file cannot be read or is empty")
	ErrUser       = errors.New("required with basic auth")
	ErrPositive   = errors.New("must be positive")
	// ErrWholeSeconds: ClickHouse takes max_execution_time in seconds.
	ErrWholeSeconds = errors.New("must be whole seconds, at least 1s")
)

// SetDefaults fills what the file left out.
func (c *Config) SetDefaults() {
	if c.Auth.Mode == "" {
		c.Auth.Mode = AuthNone
	}
	if c.MaxExecutionTime == 0 {
		c.MaxExecutionTime = 5 * time.Second
	}
	if c.MaxRows == 0 {
		c.MaxRows = 10000
	}
}

// Enabled reports whether the console listens.
func (c Config) Enabled() bool { return c.Listen != "" }

// Validate checks c after SetDefaults, secrets included (so a missing
// token fails the start, not the first request). Every problem is
// reported, joined.
func (c *Config) Validate() error {
	var errs []error
	add := func(path string, err error) { errs = append(errs, fmt.Errorf("console.%s: %w", path, err)) }
	loopback := true
	if c.Listen != "" {
		host, _, err := net.SplitHostPort(c.Listen)
		if err != nil {
			add("listen", fmt.Errorf("%q: %w", c.Listen, ErrListen))
		} else {
			loopback = isLoopback(host)
		}
	}
	switch c.Auth.Mode {
	case AuthNone:
		if !loopback {
			add("auth.mode", ErrAuthRequired)
		}
	case AuthBearer:
		if _, err := secret(c.Auth.TokenEnv, c.Auth.TokenFile); err != nil {
			add("auth.token", err)
		}
	case AuthBasic:
		if c.Auth.User == "" {
			add("auth.user", ErrUser)
		}
		if _, err := secret(c.Auth.PasswordEnv, c.Auth.PasswordFile); err != nil {
			add("auth.password", err)
		}
	default:
		add("auth.mode", fmt.Errorf("%q: %w", c.Auth.Mode, ErrMode))
	}
	if c.MaxExecutionTime < time.Second || c.MaxExecutionTime%time.Second != 0 {
		add("max_execution_time", fmt.Errorf("%s: %w", c.MaxExecutionTime, ErrWholeSeconds))
	}
	if c.MaxRows <= 0 {
		add("max_rows", ErrPositive)
	}
	return errors.Join(errs...)
}

// isLoopback reports whether host names only the local machine:
// "localhost", or a loopback IP. An empty host (":8090") is every
// interface, so not loopback.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// secret reads a secret from the environment variable env or the file
// path, exactly one of which must be set. Surrounding white space (a
// file's trailing newline) is not part of it.
func secret(env, path string) (string, error) {
	switch {
	case (env == "") == (path == ""):
		return "", ErrSecretSource
	case env != "":
		v := strings.TrimSpace(os.Getenv(env))
		if v == "" {
			return "", fmt.Errorf("%s: %w", env, ErrSecretEnv)
		}
		return v, nil
	}
	b, err := os.ReadFile(path)
	if err != nil || strings.TrimSpace(string(b)) == "" {
		return "", fmt.Errorf("%s: %w", path, ErrSecretFile)
	}
	return strings.TrimSpace(string(b)), nil
}
