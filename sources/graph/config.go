package graph

import (
	"errors"
	"fmt"
)

// DefaultTopic is the Kafka topic Microsoft Graph mail messages are read from by default.
const DefaultTopic = "sales.graph"

// ErrInvalidTopic is wrapped by Validate when the topic is not a legal Kafka
// topic name.
var ErrInvalidTopic = errors.New("invalid kafka topic name")

// Config configures the Graph normaliser.
type Config struct {
	// Topic holds Graph message resources, {"value":[…]} list or delta pages
	// and change notifications, one body per record.
	// Default: "sales.graph".
	Topic string `yaml:"topic"`
}

// WithDefaults returns c with every unset field set to its documented default.
// It is the only place defaults are applied.
func (c Config) WithDefaults() Config {
	if c.Topic == "" {
		c.Topic = DefaultTopic
	}
	return c
}

// Validate checks c after defaults were applied.
func (c Config) Validate() error {
	if !validTopic(c.Topic) {
		return fmt.Errorf("graph.topic %q: %w", c.Topic, ErrInvalidTopic)
	}
	return nil
}

// validTopic applies Kafka's rule: 1..249 characters of [a-zA-Z0-9._-], not
// "." or "..".
func validTopic(t string) bool {
	if t == "" || len(t) > 249 || t == "." || t == ".." {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
