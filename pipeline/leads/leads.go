// Package leads follows each lead across systems. CRMs know a lead's id;
// telephony, mail and meeting systems know only a phone number or an
// e-mail address. This package brings every event of one lead into one
// partition of an internal topic, where the window and anomaly stages
// pair a lead with its first touch whatever system either came from: the
// repartition a Kafka Streams application does before a join
// (docs/leads.md).
//
// Two stages, each the last of its pipeline:
//
//   - Router (behind decode and pseudonymisation) sends each interaction
//     on: an event that names its lead to the leads topic keyed by the
//     lead; a touch that names only a contact to the contacts topic keyed
//     by its contact key; a lead's identity (lead.created, lead.updated
//     with contact keys) to the contacts topic once per key.
//   - Resolver (on the contacts topic) keeps, per contact key, the leads
//     that identity belongs to, and sends each touch on to the leads topic
//     keyed by the lead it resolves to, or unresolved by its own key. A
//     touch that arrives before its lead's identity (delivery skew between
//     vendors) waits up to Config.Hold of event time; when the identity
//     comes, a PairOnly copy goes to the lead's partition.
//
// Exactly once across the hop: each stage sends a batch's messages in the
// Kafka transaction that also saves its state and the offset it reached
// (state.Forwarder), and skips, after a restart, the batches below that
// offset; the stages downstream read read_committed.
package leads

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/pipeline/internal/watermark"
	"github.com/salespulse/salespulse/schemas"
)

// Config is the YAML key leads.
type Config struct {
	// Disabled turns the hop off: the window and anomaly stages consume
	// the source topics directly and pair only events that carry the same
	// lead_id within one source partition (the behaviour before the lead
	// topics). Default false.
	Disabled bool `yaml:"disabled"`
	// ContactsTopic carries touches keyed by contact key and lead
	// identities keyed by each of their contact keys. Default (set by
	// the app) <kafka.group>.contacts; salespulse.contacts here.
	ContactsTopic string `yaml:"contacts_topic"`
	// LeadsTopic carries every interaction keyed by its lead (else
	// account, rep, contact key, event id): the window and anomaly
	// stages consume it. Default (set by the app) <kafka.group>.leads;
	// salespulse.leads here.
	LeadsTopic string `yaml:"leads_topic"`
	// Hold is how long, in event time of its contacts partition, a touch
	// whose contact has no known lead yet waits for the lead's identity
	// to arrive: it bounds the delivery skew between a CRM and the
	// telephony, mail and meeting systems that is still paired exactly.
	// It must not exceed window.allowed_lateness, or the copy arrives too
	// late to be paired. Default 15m.
	Hold time.Duration `yaml:"hold"`
	// MaxLeadsPerContact bounds the leads remembered per contact key
	// (the most recent identities win). Default 8.
	MaxLeadsPerContact int `yaml:"max_leads_per_contact"`
	// IdentityTTL is how long, in event time, an identity (a contact key
	// of a lead.created or lead.updated) reaches touches: a touch later
	// than its lead's last identity by more than this is not that lead's.
	// It bounds the resolvers' memory and state, which otherwise hold
	// every contact key ever seen; forgotten identities are deleted from
	// the store. It must be at least leads.hold and window.lead_expiry,
	// so that an open lead's answers still find it. Default 8760h (a
	// year); negative: never forget.
	IdentityTTL time.Duration `yaml:"identity_ttl"`
	// IdleTimeout is how long (processing time) an upstream partition
	// that had consumed all its input may send no progress before the
	// lead topics' event time stops waiting for it: a quiet source
	// partition would otherwise hold back the finalisation of every KBI.
	// One that went silent behind its input (a crashed instance) is
	// waited for. Default 5m: it must outlast a stall of the ingest flow
	// (ClickHouse down), during which partitions whose last mark said
	// they were caught up send nothing while their data waits.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// ResolveIdle is IdleTimeout for resolving touches only: a contacts
	// partition resolves a touch once every source partition has reached
	// its time, or had consumed all its input and sent no progress for
	// this long while others did. So in a catch-up, where partitions lag
	// behind their input, touches wait for the slowest (exact whatever
	// the topics' paces); in live operation, where every partition is
	// caught up, a quiet CRM partition holds them back this long at most
	// instead of IdleTimeout. An identity delivered later than this
	// after the touch it precedes counts from when it arrives
	// (docs/leads.md, "When a touch is resolved"). Once the whole stream
	// has been quiet this long, the app nudges the contacts partitions
	// (NudgeID) and the touches it left waiting are resolved. Negative:
	// wait as the lead topics' event time does (IdleTimeout), no nudges.
	// Default 2s.
	ResolveIdle time.Duration `yaml:"resolve_idle"`
	// TickAfter: once every source partition has been consumed to its
	// end and no new source record arrived for this long (wall time), the
	// app writes wall-clock ticks into both lead topics' partitions, so
	// the touches of a stream that stopped are resolved, its KBIs
	// finalise and its deadlines fire (watermark.TickID). Negative: no
	// ticks; the nudges (ResolveIdle) still come. Default 1m.
	TickAfter time.Duration `yaml:"tick_after"`
	// TickLag is how far behind wall time a tick puts the watermark: an
	// event that arrives after a quiet period more than this behind wall
	// time is late. Default 10s.
	TickLag time.Duration `yaml:"tick_lag"`
	// BatchLinger is kafka.batch_linger for the contacts and leads flows.
	// An event crosses both after the ingest flow's batch, and the alerts
	// the detectors raise come from the leads flow, so their lingers add
	// up on the way to a webhook. Default 150ms (kafka.batch_linger's
	// default is 500ms): at 30k events/s it took ~0.3 s off event → hook
	// (benchmarks/README.md, "The lead hop's lingers").
	BatchLinger time.Duration `yaml:"batch_linger"`
}

// Configuration errors.
var (
	ErrTopic     = errors.New("must be a valid Kafka topic name, different from the other lead topic")
	ErrPositive  = errors.New("must be > 0")
	ErrHoldLarge = errors.New("must not exceed window.allowed_lateness")
	// ErrResolveIdle: resolving touches cannot wait for a quiet partition
	// longer than the lead topics' event time does.
	ErrResolveIdle = errors.New("must not exceed leads.idle_timeout")
	// ErrIdentityTTL: an identity forgotten while its lead may still be
	// open (or a touch still waits for it) would leave answers unpaired.
	ErrIdentityTTL = errors.New("must be at least leads.hold and window.lead_expiry (negative: never forget)")
)

// SetDefaults fills the zero fields.
func (c *Config) SetDefaults() {
	if c.ContactsTopic == "" {
		c.ContactsTopic = "salespulse.contacts"
	}
	if c.LeadsTopic == "" {
		c.LeadsTopic = "salespulse.leads"
	}
	if c.Hold == 0 {
		c.Hold = 15 * time.Minute
	}
	if c.MaxLeadsPerContact == 0 {
		c.MaxLeadsPerContact = 8
	}
	if c.IdentityTTL == 0 {
		c.IdentityTTL = 365 * 24 * time.Hour
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 5 * time.Minute
	}
	if c.ResolveIdle == 0 {
		c.ResolveIdle = 2 * time.Second
	}
	if c.TickAfter == 0 {
		c.TickAfter = time.Minute
	}
	if c.TickLag == 0 {
		c.TickLag = 10 * time.Second
	}
	if c.BatchLinger == 0 {
		c.BatchLinger = 150 * time.Millisecond
	}
}

// Validate reports the first problem; allowedLateness and leadExpiry are
// the window's.
func (c Config) Validate(allowedLateness, leadExpiry time.Duration) error {
	if !validTopic(c.ContactsTopic) || c.ContactsTopic == c.LeadsTopic {
		return fmt.Errorf("leads.contacts_topic: %w", ErrTopic)
	}
	if !validTopic(c.LeadsTopic) {
		return fmt.Errorf("leads.leads_topic: %w", ErrTopic)
	}
	if c.Hold <= 0 {
		return fmt.Errorf("leads.hold: %w", ErrPositive)
	}
	if allowedLateness > 0 && c.Hold > allowedLateness {
		return fmt.Errorf("leads.hold %s: %w (%s)", c.Hold, ErrHoldLarge, allowedLateness)
	}
	if c.MaxLeadsPerContact <= 0 {
		return fmt.Errorf("leads.max_leads_per_contact: %w", ErrPositive)
	}
	if c.IdentityTTL >= 0 && (c.IdentityTTL < c.Hold || c.IdentityTTL < leadExpiry) {
		return fmt.Errorf("leads.identity_ttl %s: %w (%s, %s)", c.IdentityTTL, ErrIdentityTTL, c.Hold, leadExpiry)
	}
	if c.IdleTimeout <= 0 {
		return fmt.Errorf("leads.idle_timeout: %w", ErrPositive)
	}
	if c.ResolveIdle > c.IdleTimeout {
		return fmt.Errorf("leads.resolve_idle %s: %w (%s)", c.ResolveIdle, ErrResolveIdle, c.IdleTimeout)
	}
	if c.TickLag < 0 {
		return fmt.Errorf("leads.tick_lag: %w", ErrPositive)
	}
	if c.BatchLinger <= 0 {
		return fmt.Errorf("leads.batch_linger: %w", ErrPositive)
	}
	return nil
}

func validTopic(s string) bool {
	if s == "" || len(s) > 249 || s == "." || s == ".." {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// NudgeID is the mark id of a nudge: written into the contacts topic's
// partitions once the stream went quiet (internal/kafkaio.Ticker,
// TickerConfig.NudgeAfter: leads.resolve_idle after the source topics got
// their last record and were all consumed). A resolver resolves the
// touches at or before a nudge's time, as if every upstream had been
// silent for resolve_idle, which they were: without it a stopped stream's
// last touches waited for the ticks (leads.tick_after, 1 min). It moves
// no progress: resolvers neither count it as an upstream nor relay it.
const NudgeID = "nudge"

// NudgeValue is the nudge record for event time at, written at sent.
func NudgeValue(at, sent time.Time) []byte {
	m := schemas.Interaction{EventID: NudgeID, OccurredAt: at.UTC(), Source: "salespulse", Watermark: true,
		Stage: schemas.WatermarkAtEnd, SentAt: sent.UTC()}
	return schemas.AppendWire(nil, &m)
}

// TickValue is the wire value of a wall-clock tick that moves a leads
// partition's progress to at (watermark.TickID).
func TickValue(at, sent time.Time) []byte {
	m := schemas.Interaction{EventID: watermark.TickID, OccurredAt: at.UTC(), Source: "salespulse", Watermark: true,
		Stage: schemas.WatermarkAtEnd, SentAt: sent.UTC()}
	return schemas.AppendWire(nil, &m)
}

// Identity reports whether i teaches who a contact is: a lead's (or an
// existing customer's) CRM record with contact keys.
func Identity(i *schemas.Interaction) bool {
	return i.LeadID != "" && (i.Type == schemas.TypeLeadCreated || i.Type == schemas.TypeLeadUpdated) && !i.Keys.IsZero()
}

// Touch reports whether i must be resolved to a lead: it names a contact
// but no lead.
func Touch(i *schemas.Interaction) bool { return i.LeadID == "" && !i.Keys.IsZero() }

// ContactKey is the key a touch is resolved by: its e-mail key, else its
// phone's, else its mobile's. A touch names one contact in one system,
// so it carries one of them in practice.
func ContactKey(k schemas.ContactKeys) string {
	switch {
	case k.Email != "":
		return k.Email
	case k.Phone != "":
		return k.Phone
	}
	return k.Mobile
}

// RouteKey is i's key on the leads topic: its lead, else its account
// (approvals meet their quotes there), else its rep, else its contact,
// else itself. It is the generator's partition key too.
func RouteKey(i *schemas.Interaction) string {
	switch {
	case i.LeadID != "":
		return i.LeadID
	case i.AccountID != "":
		return i.AccountID
	case i.RepID != "":
		return i.RepID
	case i.ContactKey != "":
		return i.ContactKey
	}
	return i.EventID
}

type metrics struct {
	routed      *prometheus.CounterVec
	skipped     prometheus.Counter
	resolved    *prometheus.CounterVec
	identities  prometheus.Counter
	forgotten   prometheus.Counter
	waiting     prometheus.Gauge
	pending     prometheus.Gauge
	expired     prometheus.Counter
	redelivered prometheus.Counter

	// Children looked up once, not per event.
	routedContacts, routedLeads               prometheus.Counter
	touchResolved, touchLate, touchUnresolved prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		routed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salespulse_leads_routed_total",
			Help: "Interactions the router sent on, by topic (contacts: touches and identity copies; leads: the rest).",
		}, []string{"topic"}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salespulse_leads_replayed_total",
			Help: "Interactions of batches the router or resolver had forwarded already (a replay after a restart or rebalance), not sent again.",
		}),
		resolved: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salespulse_leads_touches_total",
			Help: "Touches resolved by the resolver, by outcome: resolved (a lead was known), late_resolved (its lead's identity came while it waited: a pair-only copy was sent), unresolved (no lead within leads.hold).",
		}, []string{"outcome"}),
		identities: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salespulse_leads_identities_total",
			Help: "Contact key to lead identities learnt (one per contact key of a lead.created or lead.updated).",
		}),
		waiting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "salespulse_leads_waiting_touches",
			Help: "Touches waiting for their contact's lead identity, on this instance.",
		}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "salespulse_leads_pending_touches",
			Help: "Touches later than their contacts partition's progress, on this instance: they are resolved once every source partition has reached their time or is caught up and quiet for leads.resolve_idle.",
		}),
		forgotten: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salespulse_leads_identities_forgotten_total",
			Help: "Identities forgotten because leads.identity_ttl of event time passed since they were learnt (deleted from memory and the state store).",
		}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salespulse_leads_hold_expired_total",
			Help: "Waiting touches whose leads.hold passed without an identity.",
		}),
		redelivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salespulse_leads_redeliveries_dropped_total",
			Help: "Interactions dropped on the leads topic because an earlier one had the same event id (a vendor's webhook redelivery, or one call reported by two legs).",
		}),
	}
	m.routedContacts, m.routedLeads = m.routed.WithLabelValues("contacts"), m.routed.WithLabelValues("leads")
	m.touchResolved = m.resolved.WithLabelValues("resolved")
	m.touchLate = m.resolved.WithLabelValues("late_resolved")
	m.touchUnresolved = m.resolved.WithLabelValues("unresolved")
	if reg != nil {
		reg.MustRegister(m.routed, m.skipped, m.resolved, m.identities, m.forgotten, m.waiting, m.pending, m.expired, m.redelivered)
	}
	return m
}
