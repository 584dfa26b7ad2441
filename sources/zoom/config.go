package zoom

import "github.com/salespulse/salespulse/sources/vendorkit"

// DefaultTopic is the Kafka topic Zoom webhooks are read from by default.
const DefaultTopic = "sales.zoom"

// ErrInvalidTopic is wrapped by Validate when the topic is not a legal Kafka
// topic name. It is vendorkit.ErrInvalidTopic: errors.Is matches either.
var ErrInvalidTopic = vendorkit.ErrInvalidTopic

// Config configures the Zoom normaliser.
type Config struct {
	// Topic holds the raw Zoom webhook bodies, one per record.
	// Default: "sales.zoom".
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
	return vendorkit.CheckTopic("zoom", c.Topic)
}
