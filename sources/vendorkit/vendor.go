package vendorkit

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/schemas"
)

// Vendor is what a vendor folder (sources/salesforce, sources/zoom, ...)
// declares about itself in its vendor.go, like a benthos input declares its
// name, spec and constructor together. sources.Vendors lists them; the app
// builds decoders, default topics and the sources: config section from the
// list, and the generator renders its interactions through the encoders.
// Adding a vendor is a new folder with a vendor.go and one line in that list.
type Vendor struct {
	// Name is the vendor's key: sources.<name> in the config file, the
	// decoder name kafka.topics maps topics to, the Record.Vendor of its
	// synthetic records.
	Name string
	// DefaultTopic is the Kafka topic its decoder consumes unless
	// sources.<name>.topic names another.
	DefaultTopic string
	// NewConfig returns a pointer to a zero config, decoded from
	// sources.<name> next to its topic key; nil for a vendor without
	// options. The app calls SetDefaults then Validate on it.
	NewConfig func() Config
	// NewDecoder builds the decoder from the config NewConfig made (nil when
	// NewConfig is nil), defaults applied and validated. idx resolves the
	// vendor's user ids to reps; reg may be nil.
	NewDecoder func(cfg Config, idx *schemas.Index, reg prometheus.Registerer) (Decoder, error)
	// NewEncoder returns the encoder that renders generated interactions as
	// this vendor's payloads (the generator's wire format for it, kept
	// beside the decoder it feeds). One per generator: it may keep scratch
	// state.
	NewEncoder func() Encoder
	// Webhook is how the vendor posts to the ingress (webhook.go in its
	// folder); nil for a vendor that does not push (no route).
	Webhook *Webhook
}

// Config is a vendor's own options (sources.<name> without its topic key).
type Config interface {
	// SetDefaults fills unset fields with their documented defaults.
	SetDefaults()
	// Validate checks the config after SetDefaults; errors name the field
	// relative to the section ("won_stages[0]: ...").
	Validate() error
}

// Decoder turns one record value into interactions. It has the method set
// of kafka.Decoder, which the source declares; vendor packages do not import
// the source.
type Decoder interface {
	Decode(dst []schemas.Interaction, value []byte) ([]schemas.Interaction, error)
}

// NewDefaultDecoder builds v's decoder with its default config: for tests
// and benchmarks that run every vendor.
func (v Vendor) NewDefaultDecoder(idx *schemas.Index, reg prometheus.Registerer) (Decoder, error) {
	var cfg Config
	if v.NewConfig != nil {
		cfg = v.NewConfig()
		cfg.SetDefaults()
	}
	return v.NewDecoder(cfg, idx, reg)
}

// Plain declares a vendor whose decoder takes no options: mk builds it
// from the org index and the metrics registry.
func Plain[D Decoder](name, topic string, mk func(*schemas.Index, prometheus.Registerer) (D, error), enc func() Encoder) Vendor {
	return Vendor{
		Name: name, DefaultTopic: topic, NewEncoder: enc,
		NewDecoder: func(_ Config, idx *schemas.Index, reg prometheus.Registerer) (Decoder, error) {
			return decoder(mk(idx, reg))
		},
	}
}

// Configured declares a vendor whose decoder takes its options C, decoded
// from sources.<name> (the app calls SetDefaults, then Validate, on *C).
func Configured[C any, PC interface {
	*C
	Config
}, D Decoder](name, topic string, mk func(C, *schemas.Index, prometheus.Registerer) (D, error), enc func() Encoder) Vendor {
	return Vendor{
		Name: name, DefaultTopic: topic, NewEncoder: enc,
		NewConfig: func() Config { return PC(new(C)) },
		NewDecoder: func(cfg Config, idx *schemas.Index, reg prometheus.Registerer) (Decoder, error) {
			c, _ := cfg.(PC)
			if c == nil {
				c = new(C) // mk applies the defaults
			}
			return decoder(mk(*c, idx, reg))
		},
	}
}

// decoder returns d as a Decoder, or a nil interface (not a typed nil
// pointer) with err.
func decoder[D Decoder](d D, err error) (Decoder, error) {
	if err != nil {
		return nil, err
	}
	return d, nil
}
