package app

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources"
	"github.com/salespulse/salespulse/sources/kafka"
	"github.com/salespulse/salespulse/sources/vendorkit"
)

// SourceConfig is one sources.<vendor> section.
type SourceConfig struct {
	// Topic is the Kafka topic the vendor's decoder consumes. Without
	// kafka.topics, the consumed topics are every vendor's Topic, default
	// the vendor's own (sales.<vendor>). With kafka.topics, that map alone
	// routes topics to decoders: Topic stays "" unless the file sets it,
	// and a Topic that kafka.topics does not route to this vendor is an
	// error (it would silently not be read).
	Topic string
	// Options is the vendor's own config (the section's other keys), nil
	// for a vendor without options.
	Options sources.Config
}

// Errors of the sources: section.
var (
	// ErrTopicShared: two vendors name the same topic; a topic feeds one
	// decoder.
	ErrTopicShared = errors.New("is also the topic of another vendor")
	// ErrTopicConflict: sources.<vendor>.topic and kafka.topics disagree
	// about which decoder reads the topic.
	ErrTopicConflict = errors.New("conflicts with kafka.topics")
)

// setSourceDefaults gives every vendor a section with its defaults and,
// when the file has no kafka.topics, consumes every vendor's topic. It runs
// again in New on a config already defaulted: then kafka.topics is set and
// the sections' topics already agree with it.
func (c *Config) setSourceDefaults() {
	if c.Sources == nil {
		c.Sources = map[string]*SourceConfig{}
	}
	routed := len(c.Kafka.Topics) > 0
	for _, v := range sources.Vendors() {
		sc := c.Sources[v.Name]
		if sc == nil {
			sc = &SourceConfig{}
			c.Sources[v.Name] = sc
		}
		if sc.Options == nil && v.NewConfig != nil {
			sc.Options = v.NewConfig()
		}
		if sc.Options != nil {
			sc.Options.SetDefaults()
		}
		if !routed && sc.Topic == "" {
			sc.Topic = v.DefaultTopic
		}
	}
	if routed {
		return
	}
	c.Kafka.Topics = map[string]string{}
	for _, v := range sources.Vendors() {
		// The first vendor naming a topic gets it; validateSources reports
		// the others.
		if t := c.Sources[v.Name].Topic; c.Kafka.Topics[t] == "" {
			c.Kafka.Topics[t] = v.Name
		}
	}
}

// validateSources checks each vendor's options and reconciles
// sources.<vendor>.topic with kafka.topics; every error names its full
// path and says what to change.
func (c *Config) validateSources() []error {
	var errs []error
	owner := map[string]string{} // topic -> first vendor whose section names it
	for _, v := range sources.Vendors() {
		sc := c.Sources[v.Name]
		if sc == nil {
			continue
		}
		path := "sources." + v.Name
		if sc.Options != nil {
			if err := sc.Options.Validate(); err != nil {
				// Vendors name fields relative to their section.
				errs = append(errs, fmt.Errorf("%s.%w", path, err))
			}
		}
		t := sc.Topic
		if t == "" {
			continue
		}
		first, shared := owner[t]
		if !shared {
			owner[t] = v.Name
		}
		switch routed := c.Kafka.Topics[t]; {
		case !vendorkit.ValidTopic(t):
			errs = append(errs, fmt.Errorf("%s.topic %q: %w", path, t, vendorkit.ErrInvalidTopic))
		case shared:
			errs = append(errs, fmt.Errorf("%s.topic %q %w (sources.%s.topic): give each vendor its own topic", path, t, ErrTopicShared, first))
		case routed == "":
			errs = append(errs, fmt.Errorf("%s.topic %q %w: kafka.topics is given and does not list the topic, so nothing would read it; add `%s: %s` to kafka.topics, or remove kafka.topics to consume every sources.<vendor>.topic", path, t, ErrTopicConflict, t, v.Name))
		case routed != v.Name:
			errs = append(errs, fmt.Errorf("%s.topic %q %w: kafka.topics.%s routes it to the %s decoder; remove %s.topic, or route the topic to %s in kafka.topics", path, t, ErrTopicConflict, t, routed, path, v.Name))
		}
	}
	return errs
}

// configFile is the Go value a config file decodes into: Config, plus a
// sources: field whose type is made from the vendor list, one field per
// vendor holding its topic and its own config type inline. yaml.v3's strict
// mode then checks every vendor section's keys and names the line of a
// misspelt one, and no vendor is written here.
type configFile struct {
	val     reflect.Value // struct{ Config `yaml:",inline"`; Sources struct{...} `yaml:"sources"` }
	vendors []sources.Vendor
	// types maps the Go type text yaml.v3 prints in errors to what the
	// operator knows it as.
	types map[string]string
}

func newConfigFile() *configFile {
	f := &configFile{vendors: sources.Vendors(), types: map[string]string{}}
	fields := make([]reflect.StructField, 0, len(f.vendors))
	for k, v := range f.vendors {
		sec := []reflect.StructField{{Name: "Topic", Type: reflect.TypeFor[string](), Tag: `yaml:"topic"`}}
		if v.NewConfig != nil {
			// NewConfig returns a pointer; the section holds the value.
			sec = append(sec, reflect.StructField{Name: "Options", Type: reflect.TypeOf(v.NewConfig()).Elem(), Tag: `yaml:",inline"`})
		}
		// A field of no size and no key makes each section's type, and so
		// its name in yaml.v3's errors, the vendor's own even when two
		// vendors have the same keys.
		sec = append(sec, reflect.StructField{Name: fmt.Sprintf("Vendor%d", k), Type: reflect.TypeFor[struct{}](), Tag: `yaml:"-"`})
		st := reflect.StructOf(sec)
		f.types[st.String()] = "sources." + v.Name
		fields = append(fields, reflect.StructField{Name: fmt.Sprintf("V%d", k), Type: st, Tag: reflect.StructTag(fmt.Sprintf("yaml:%q", v.Name))})
	}
	src := reflect.StructOf(fields)
	f.types[src.String()] = "sources (vendors: " + strings.Join(sources.Names(), ", ") + ")"
	top := reflect.StructOf([]reflect.StructField{
		{Name: "Config", Type: reflect.TypeFor[Config](), Tag: `yaml:",inline"`},
		{Name: "Sources", Type: src, Tag: `yaml:"sources"`},
	})
	f.val = reflect.New(top).Elem()
	return f
}

// ptr is what to hand the YAML decoder.
func (f *configFile) ptr() any { return f.val.Addr().Interface() }

// config returns the decoded Config with one section per vendor.
func (f *configFile) config() *Config {
	c := f.val.Field(0).Addr().Interface().(*Config)
	c.Sources = make(map[string]*SourceConfig, len(f.vendors))
	sv := f.val.Field(1)
	for k, v := range f.vendors {
		sec := sv.Field(k)
		sc := &SourceConfig{Topic: sec.Field(0).String()}
		if v.NewConfig != nil {
			sc.Options = sec.Field(1).Addr().Interface().(sources.Config)
		}
		c.Sources[v.Name] = sc
	}
	return c
}

// renameTypes replaces the made-up section types in yaml.v3's messages
// ("field topc not found in type struct { Topic string ... }") by the
// section they stand for.
func (f *configFile) renameTypes(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	for k, m := range te.Errors {
		for typ, name := range f.types {
			m = strings.ReplaceAll(m, "type "+typ, name)
		}
		te.Errors[k] = m
	}
	return err
}

// newDecoders builds the decoder of every consumed topic from the vendor
// list: one decoder per vendor, shared by the topics kafka.topics routes to
// it, made with that vendor's sources.<vendor> options.
func newDecoders(cfg Config, idx *schemas.Index, reg prometheus.Registerer) (map[string]kafka.Decoder, error) {
	built := map[string]kafka.Decoder{}
	out := map[string]kafka.Decoder{}
	for topic, name := range cfg.Kafka.Topics {
		d, ok := built[name]
		if !ok {
			v, known := sources.Lookup(name)
			if !known {
				return nil, fmt.Errorf("kafka.topics.%s: %q: %w", topic, name, ErrUnknownDecoder)
			}
			var opts sources.Config
			if sc := cfg.Sources[name]; sc != nil {
				opts = sc.Options
			}
			vd, err := v.NewDecoder(opts, idx, reg)
			if err != nil {
				return nil, fmt.Errorf("decoder %s: %w", name, err)
			}
			d = vd
			built[name] = d
		}
		out[topic] = d
	}
	return out, nil
}
