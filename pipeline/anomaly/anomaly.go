// Package anomaly detects what a sales manager must act on — discounts
// beyond authority, leads left unanswered past their SLA, approvals piling
// up, reps whose discounts, response times or activity stand out — and
// turns it into alerts (schemas.Alert) in Batch.Alerts.
//
// Each rule family is one file implementing detect.Detector: its
// per-partition state, what it does per interaction and when its deadlines
// fall due, the state key kinds it checkpoints (and their encodings), and
// what it derives after a restore. pipeline/anomaly/detect runs them: event
// time watermarks, the deadline heap, alert emission and the checkpoint in
// the state store. Adding a detector is one new file and one line in
// detectors below.
//
// Detection is driven by event time only: deadlines fire when a partition's
// watermark (largest event time seen minus Config.OutOfOrder) passes them,
// never by the wall clock, so a replay of the same records fires the same
// alerts with the same ids at the same event times. Alert rows carry the
// event time of each transition; the sinks write them to salespulse.alerts
// and to the Kafka topic sales.alerts, from which sinks/alert's Dispatcher
// pages the managers.
package anomaly

import (
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/pipeline/anomaly/dealscore"
	"github.com/salespulse/salespulse/pipeline/anomaly/detect"
	"github.com/salespulse/salespulse/pipeline/anomaly/matrix"
	"github.com/salespulse/salespulse/pipeline/anomaly/outlier"
	"github.com/salespulse/salespulse/pipeline/internal/calendar"
	"github.com/salespulse/salespulse/pipeline/state"
	"github.com/salespulse/salespulse/schemas"
)

// detectors lists every detector, in the order interactions and deadlines
// due at the same time reach them (so the order of a batch's alerts). A
// disabled detector stays listed, doing nothing: its state kinds must
// still restore after a configuration change.
func detectors(cfg *Config, m *matrix.Matrix, idx *schemas.Index, cals map[string]Calendar, model *dealscore.Model, reg prometheus.Registerer) []detect.Detector {
	return []detect.Detector{
		newSLA(cfg, idx, cals, reg),
		&approvalRules{cfg: cfg, matrix: m},
		outlier.New(&cfg.Outliers, cfg.Cooldown, map[string]outlier.Measure{
			RuleDiscountOutlier: {Severity: Rules[RuleDiscountOutlier], Unit: "%", What: "discounts"},
			RuleResponseOutlier: {Severity: Rules[RuleResponseOutlier], Unit: "s", What: "response times"},
		}),
		&activity{cfg: cfg},
		newDealRisk(cfg, model),
		newSignals(cfg, reg),
	}
}

// The detectors' optional capabilities, checked at compile time.
var (
	_ detect.Dueer     = (*slaPart)(nil)
	_ detect.Forgetter = (*slaPart)(nil)
	_ detect.Rebuilder = (*slaPart)(nil)
	_ detect.Dueer     = (*approvalsPart)(nil)
	_ detect.Forgetter = (*approvalsPart)(nil)
	_ detect.Rebuilder = (*approvalsPart)(nil)
	_ detect.Advancer  = (*activityPart)(nil)
	_ detect.Rebuilder = (*activityPart)(nil)
	_ detect.Dueer     = (*dealPart)(nil)
	_ detect.Forgetter = (*dealPart)(nil)
	_ detect.Rebuilder = (*dealPart)(nil)
	_ detect.Forgetter = (*signalsPart)(nil)
	_ detect.Rebuilder = (*signalsPart)(nil)
)

// Deps are what the detectors need from outside to survive restarts.
type Deps struct {
	// State checkpoints each partition's detector state (namespace
	// state.Anomaly) and tells the committed offsets below which history
	// may be dropped. Nil disables checkpointing: state lives in memory
	// only and is lost on restart or rebalance (unit tests, dev).
	State state.Store
	// Clock is wall time for restore metrics. Default time.Now. Detection
	// itself never reads it.
	Clock func() time.Time
	// Progress: the input merges upstream partitions (the lead topics,
	// docs/leads.md); a partition's clock moves with Batch.Progress, set
	// by the window before this stage, not with the events it sees.
	Progress bool
	// Calendars are the teams' business hours (window.calendars: by team
	// id, "*" for the others), for SLAs on the business clock
	// (Config.SLA.Clock). Required when a clock is "business".
	Calendars map[string]Calendar
	// DealModel scores open opportunities (Config.DealRisk.ModelFile,
	// loaded with dealscore.Unmarshal). Nil: features only, no scores,
	// no deal_at_risk.
	DealModel *dealscore.Model
}

// Calendar is a team's business hours, the type of window.Calendar: both
// stages read the same window.calendars.
type Calendar = calendar.Config

// Detectors holds what all workers share: configuration, matrix, org
// index, state store and metrics. Each pipeline worker gets its own Stage
// from NewStage.
type Detectors struct {
	r *detect.Runner
}

// Stage is the anomaly detection pipeline.Stage of one worker.
type Stage = detect.Stage

// New returns the detectors. m may be nil (discount rules off); idx is the
// org file's index (nil: no managers, roles or regions are known). With
// deps.State, each partition's state is checkpointed to it and restored on
// assignment. cfg's defaults are applied before it is checked.
func New(cfg Config, m *matrix.Matrix, idx *schemas.Index, deps Deps, reg prometheus.Registerer, log *slog.Logger) (*Detectors, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.SLA.business() && len(deps.Calendars) == 0 {
		return nil, fmt.Errorf("anomaly.sla.clock: %w", ErrNoCalendars)
	}
	for team, c := range deps.Calendars {
		if _, err := c.Compile(""); err != nil {
			return nil, fmt.Errorf("new anomaly detector: calendar %s: %w", team, err)
		}
	}
	if m != nil {
		if err := m.Validate(); err != nil {
			return nil, fmt.Errorf("new anomaly detector: authorization matrix: %w", err)
		}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := detect.Options{OutOfOrder: cfg.OutOfOrder, ForgetAfter: cfg.ForgetAfter, EmitPending: cfg.EmitPending,
		Index: idx, State: deps.State, Clock: deps.Clock, Progress: deps.Progress}
	r, err := detect.New(opts, detectors(&cfg, m, idx, deps.Calendars, deps.DealModel, reg), reg, log.With("component", "anomaly"))
	if err != nil {
		return nil, err
	}
	return &Detectors{r: r}, nil
}

// NewStage returns a pipeline stage for one worker. It keeps state per
// topic/partition without locks: the pipeline hands all batches of a
// partition to the same worker, in offset order.
func (d *Detectors) NewStage() *Stage { return d.r.NewStage() }

func pct(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func dur(d time.Duration) string { return d.Round(time.Second).String() }

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func num(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) }
