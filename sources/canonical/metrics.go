package canonical

import (
	"errors"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
)

// maxUnknownFieldLabels bounds the field label of
// salespulse_canonical_unknown_fields_total: the first 64 distinct unknown
// names get their own series, every later one is counted as "other". Without
// the bound, one producer sending random keys would create unbounded series.
const maxUnknownFieldLabels = 64

// maxLabelLen truncates absurd field names before they become label values.
const maxLabelLen = 64

type metrics struct {
	unknown  *prometheus.CounterVec
	decoded  prometheus.Counter
	rejected prometheus.Counter

	mu     sync.Mutex
	fields map[string]prometheus.Counter // at most maxUnknownFieldLabels entries
	other  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	unknown := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "salespulse_canonical_unknown_fields_total",
		Help: "Fields of canonical events the decoder does not know and ignored, by name (first 64 names, then \"other\").",
	}, []string{"field"})
	events := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "salespulse_canonical_events_total",
		Help: "Canonical events decoded (result=\"decoded\") or rejected as invalid (result=\"rejected\").",
	}, []string{"result"})
	if reg != nil {
		unknown = register(reg, unknown)
		events = register(reg, events)
	}
	return &metrics{
		unknown:  unknown,
		decoded:  events.WithLabelValues("decoded"),
		rejected: events.WithLabelValues("rejected"),
		fields:   make(map[string]prometheus.Counter),
		other:    unknown.WithLabelValues("other"),
	}
}

// register registers c, or returns the collector already registered under
// the same descriptor so that several decoders may share one registry.
func register(reg prometheus.Registerer, c *prometheus.CounterVec) *prometheus.CounterVec {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing
			}
		}
		panic("canonical: register metrics: " + err.Error())
	}
	return c
}

// unknownField returns the counter for an unknown field name. Callers cache
// the result per decoder state, so the mutex is taken once per name and
// worker, not per event.
func (m *metrics) unknownField(name string) prometheus.Counter {
	if len(name) > maxLabelLen {
		name = name[:maxLabelLen]
	}
	if !utf8.ValidString(name) {
		// A cut through a multi-byte rune would make WithLabelValues panic.
		name = strings.ToValidUTF8(name, "")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.fields[name]; ok {
		return c
	}
	if name == "other" || len(m.fields) >= maxUnknownFieldLabels {
		return m.other
	}
	c := m.unknown.WithLabelValues(name)
	m.fields[name] = c
	return c
}
