package graph

import "github.com/salespulse/salespulse/sources/vendorkit"

// DefaultTopic is the Kafka topic Microsoft Graph mail messages are read from by default.
const DefaultTopic = "sales.graph"

// ErrInvalidTopic is wrapped by Validate when the topic is not a legal Kafka
// topic name. It is vendorkit.ErrInvalidTopic: errors.Is matches either.
var ErrInvalidTopic = vendorkit.ErrInvalidTopic

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
	return vendorkit.CheckTopic("graph", c.Topic)
}
