package app

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/internal/kafkaio"
	"github.com/salespulse/salespulse/pipeline"
	"github.com/salespulse/salespulse/pipeline/leads"
	"github.com/salespulse/salespulse/pipeline/privacy"
	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sinks/clickhouse"
	"github.com/salespulse/salespulse/sources/kafka"
)

// newLeads builds the routing stages' shared part: the lead topics have
// parts partitions, and every source partition is an upstream whose
// progress the lead topics wait for.
func newLeads(ctx context.Context, cfg Config, src *kafka.Source, store *kafkaio.StateStore, parts int32,
	reg prometheus.Registerer, log *slog.Logger) (*leads.Leads, error) {
	topics := make([]string, 0, len(cfg.Kafka.Topics))
	for t := range cfg.Kafka.Topics {
		topics = append(topics, t)
	}
	// The lead topics' event time waits for every source partition to
	// report, for up to leads.idle_timeout; one that never held a record
	// when the instance started only for quietGrace, and the partitions
	// of a topic that held none at all (a vendor this deployment may not
	// use, or nothing produced yet) only once one of them reports: a
	// vendor that never sends must not stall the KBIs, and a topic whose
	// data is just arriving must not let its first partition run ahead.
	slices.Sort(topics)
	ends, err := kafkaio.EndOffsets(ctx, src.Client(), topics)
	if err != nil {
		return nil, fmt.Errorf("leads: %w", err)
	}
	var ups, quiet []string
	var dormant [][]string
	for _, t := range topics {
		var ids, empty []string
		for _, p := range slices.Sorted(maps.Keys(ends[t])) {
			id := leads.UpstreamID(t, p)
			ids = append(ids, id)
			if ends[t][p] == 0 {
				empty = append(empty, id)
			}
		}
		ups = append(ups, ids...)
		if len(empty) == len(ids) {
			dormant = append(dormant, ids)
		} else {
			quiet = append(quiet, empty...)
		}
	}
	l, err := leads.New(cfg.Leads, store, leads.Topology{Partitions: parts, Sources: ups, Quiet: quiet, Dormant: dormant,
		QuietGrace: min(quietGrace, cfg.Leads.IdleTimeout)}, reg, log)
	if err != nil {
		return nil, fmt.Errorf("leads: %w", err)
	}
	return l, nil
}

// quietGrace bounds the wait for a source partition that never held a
// record (watermark.Upstreams.Expect), at most leads.idle_timeout. Not
// waiting at all would let the first partition to report run the lead
// topics' event time ahead of the others starting a moment later, and a
// start under load (a transactional producer and a state read per
// partition) can take several seconds per partition: the fault suite saw
// a 10 s grace run out.
const quietGrace = time.Minute

// newTicker builds the wall-clock ticker of the lead topics: once the
// source topics got nothing new and the ingest group has consumed
// everything for leads.tick_after, it ticks every partition's progress, of
// the contacts and the leads topic, to wall time minus leads.tick_lag. The
// resolvers release the touches a tick reaches and relay it in their marks
// (leads.Leads.Relays), so a leads partition's progress passes a touch
// only once it is there. Each stage still keeps its own out_of_orderness
// below it, so a deadline fires that much after it passed on the wall
// clock (anomaly.out_of_orderness, 1m by default). With ticks off
// (tick_after negative) it still nudges (leads.resolve_idle).
func newTicker(cfg Config, l *leads.Leads, reg prometheus.Registerer, log *slog.Logger) (*kafkaio.Ticker, error) {
	conn, err := cfg.Kafka.ConnOpts()
	if err != nil {
		return nil, err
	}
	var sources []string
	for t := range cfg.Kafka.Topics {
		sources = append(sources, t)
	}
	slices.Sort(sources)
	lc := l.Config()
	// Checked every quarter of the quiet period it waits for, between
	// 100 ms and 2 s: the ticks' when they are on, else the nudge's.
	period := lc.TickAfter
	if period < 0 {
		period = lc.ResolveIdle
	}
	tc := kafkaio.TickerConfig{
		Groups:  []string{cfg.Kafka.Group},
		Sources: sources, Topics: []string{lc.ContactsTopic, lc.LeadsTopic}, Partitions: l.Partitions(),
		After: lc.TickAfter, Every: min(2*time.Second, max(period/4, 100*time.Millisecond)),
		Value: func(now time.Time) []byte {
			return leads.TickValue(now.Add(-lc.TickLag), now)
		},
	}
	if lc.ResolveIdle > 0 {
		// Once the stream stopped for resolve_idle, the resolvers may
		// resolve what it left waiting (leads.NudgeID), with ticks off
		// too: a backfill's last touches that name no lead are counted
		// then instead of when more data comes. A nudge moves no event
		// time, so unlike a tick it sets no later event aside as late;
		// an identity that comes after it counts from its arrival, as
		// with resolve_idle.
		tc.NudgeAfter, tc.NudgeTopics = lc.ResolveIdle, []string{lc.ContactsTopic}
		tc.NudgeValue = func(now time.Time) []byte { return leads.NudgeValue(now.Add(-lc.ResolveIdle), now) }
	}
	return kafkaio.NewTicker(tc, conn, reg, log.With("component", "ticker"))
}

// flow is one consumer group's pipeline: its source and what runs it.
type flow struct {
	name string
	src  *kafka.Source
	pipe *pipeline.Pipeline
}

// flowReg labels a flow's source and pipeline metrics with its name:
// the three flows export the same metric names.
func flowReg(reg prometheus.Registerer, name string) prometheus.Registerer {
	return prometheus.WrapRegistererWith(prometheus.Labels{"pipeline": name}, reg)
}

// wireDecoder reads the internal lead topics, which SalesPulse writes
// itself (schemas.AppendWire).
type wireDecoder struct{}

func (wireDecoder) Decode(dst []schemas.Interaction, value []byte) ([]schemas.Interaction, error) {
	dst = append(dst, schemas.Interaction{})
	if err := schemas.DecodeWire(&dst[len(dst)-1], value); err != nil {
		return dst[:len(dst)-1], err
	}
	return dst, nil
}

// leadFlows builds the three pipelines of the lead hop (docs/leads.md):
//
//   - ingest, group <group>: source topics → pseudonymise → Router; the
//     sink stores the raw rows, many batches per insert (Sink.Grouped);
//   - contacts, group <group>.contacts: the contacts topic → Resolver;
//     nothing to store (its output is the Resolver's transactions);
//   - leads, group <group>.leads: the leads topic → window and detectors;
//     the sink stores their facts and alerts (not the interactions again),
//     the facts of many batches per insert where the table allows
//     (Sink.Derived).
//
// derived is the leads flow's sink: the derived tables and, with the
// detectors, the alerts topic. The Router and Resolver forward in the
// state store's transactions, so ingest and contacts commit offsets only
// of batches already forwarded.
// leadsOnly builds the leads flow alone (Options.LeadsFlowOnly).
func leadFlows(cfg Config, src *kafka.Source, store *kafkaio.StateStore, l *leads.Leads, sink *clickhouse.Sink, derived pipeline.Sink,
	pseudo *privacy.Pseudonymizer, kbiStages func(int) []pipeline.Stage, tap func(string, int) pipeline.Stage, leadsOnly bool,
	reg prometheus.Registerer, log *slog.Logger, cs *closers,
) ([]flow, error) {
	var flows []flow
	if !leadsOnly {
		ingest, err := pipeline.New(cfg.Pipeline, src, tapped(tap, "ingest", func(int) []pipeline.Stage {
			// Pseudonymisation first: nothing downstream, the lead topics
			// included, ever holds raw contact data.
			return []pipeline.Stage{pseudo.NewStage(), l.NewRouter()}
		}), sink.Grouped(), flowReg(reg, "ingest"), log)
		if err != nil {
			return nil, err
		}
		flows = append(flows, flow{"ingest", src, ingest})
	}

	hop := func(name, topic string, stages func(int) []pipeline.Stage, out pipeline.Sink) error {
		kc := cfg.Kafka
		kc.Group = cfg.Kafka.Group + "." + name
		kc.BatchLinger = cfg.Leads.BatchLinger
		kc.Topics = map[string]string{topic: "wire"}
		store.SetGroup(topic, kc.Group)
		hs, err := kafka.NewSource(kc, map[string]kafka.Decoder{topic: wireDecoder{}}, flowReg(reg, name), log)
		if err != nil {
			return fmt.Errorf("%s source: %w", name, err)
		}
		if err := cs.push(name+" source", hs.Close); err != nil {
			return err
		}
		hs.SetCutHistory(sink)
		// One read-ahead budget for the process (kafka.read_ahead_bytes),
		// not one per flow: the flows' read-ahead is what peaks together.
		hs.SetReadAhead(src.ReadAhead())
		p, err := pipeline.New(cfg.Pipeline, hs, tapped(tap, name, stages), out, flowReg(reg, name), log)
		if err != nil {
			return err
		}
		flows = append(flows, flow{name, hs, p})
		return nil
	}
	if !leadsOnly {
		err := hop("contacts", cfg.Leads.ContactsTopic, func(int) []pipeline.Stage {
			return []pipeline.Stage{l.NewResolver()}
		}, discard{})
		if err != nil {
			return nil, err
		}
	}
	// Redeliveries go before the window: they would open a second
	// trigger or count a call twice. Ids are kept as long as the window
	// still accepts an event.
	horizon := cfg.Window.OutOfOrderness + cfg.Window.AllowedLateness
	err := hop("leads", cfg.Leads.LeadsTopic, func(w int) []pipeline.Stage {
		return append([]pipeline.Stage{l.NewDedup(horizon)}, kbiStages(w)...)
	}, derived)
	if err != nil {
		return nil, err
	}
	return flows, nil
}

// tapped appends Options.Tap's stage of flow to stages.
func tapped(tap func(string, int) pipeline.Stage, flow string, stages func(int) []pipeline.Stage) func(int) []pipeline.Stage {
	if tap == nil {
		return stages
	}
	return func(w int) []pipeline.Stage {
		s := stages(w)
		if t := tap(flow, w); t != nil {
			s = append(s, t)
		}
		return s
	}
}

// discard is the contacts flow's sink: the Resolver's transactions are
// its output.
type discard struct{}

func (discard) Write(context.Context, *schemas.Batch) error { return nil }
