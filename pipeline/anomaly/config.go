package anomaly

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/salespulse/salespulse/pipeline/anomaly/outlier"
	"github.com/salespulse/salespulse/schemas"
)

// Config tunes the detectors. Zero fields get the defaults documented on
// each field, applied in one place (SetDefaults); Validate checks the
// result. YAML durations are Go durations ("30m"). Where the detector
// state is checkpointed is the state store's configuration.
type Config struct {
	// MatrixFile is the authorization matrix (YAML). Empty disables the
	// discount detectors; cmd loads it with LoadMatrix.
	MatrixFile string `yaml:"matrix_file"`
	// OutOfOrder is the bounded out-of-orderness of a partition: its
	// watermark is the largest event time seen minus this. Deadlines fire
	// once the watermark has passed them. Default 1m.
	OutOfOrder time.Duration `yaml:"out_of_orderness"`
	// Cooldown: a condition that clears and comes back within Cooldown of
	// its resolution reopens the same alert (same id) instead of paging
	// anew (flap damping for the outlier rules). Default 1h.
	Cooldown time.Duration `yaml:"cooldown"`
	// EmitPending also writes pending transitions to Batch.Alerts (they
	// are never paged). Default false: pending lives in memory only, as in
	// Prometheus, which does not send pending alerts either.
	EmitPending bool `yaml:"emit_pending"`

	SLA       SLAConfig       `yaml:"sla"`
	Approvals ApprovalsConfig `yaml:"approvals"`
	Outliers  OutlierConfig   `yaml:"outliers"`
	Activity  ActivityConfig  `yaml:"activity"`
	DealRisk  DealRiskConfig  `yaml:"deal_risk"`
	Signals   SignalsConfig   `yaml:"signals"`
	// ForgetAfter drops per-partition state (open leads, pending quotes
	// and approvals) this long after it was opened, bounding memory on
	// streams where answers never come. A firing alert stays firing in
	// salespulse.alerts. Default 14 days.
	ForgetAfter time.Duration `yaml:"forget_after"`
}

// SLAConfig is the lead response-time SLA.
type SLAConfig struct {
	// Disabled turns the SLA detector off.
	Disabled bool `yaml:"disabled"`
	// Default is the SLA of every team and channel not overridden.
	// Default 30m.
	Default time.Duration `yaml:"default"`
	// Teams overrides per team id: its default and per channel
	// ("email", "phone", "social", "chat", "crm", "meeting").
	Teams map[string]TeamSLA `yaml:"teams"`
	// Channels overrides per channel for every team without its own.
	Channels map[string]time.Duration `yaml:"channels"`
	// EscalateFactor: a second, critical alert fires at this multiple of
	// the SLA. Default 4; a negative value disables escalation.
	EscalateFactor float64 `yaml:"escalate_factor"`
	// Clock is what the SLA (and its escalation) counts: "wall" time, the
	// default, or "business" hours of the team's calendar
	// (window.calendars: the team's own, else "*"). On the business clock
	// a lead that arrives off hours is due at the next opening plus the
	// SLA, and an SLA that spans the close continues at the next opening.
	// A team without a calendar keeps the wall clock.
	Clock Clock `yaml:"clock"`
	// ChannelClocks overrides Clock per channel for every team without its
	// own, as Channels does the SLA.
	ChannelClocks map[string]Clock `yaml:"channel_clocks"`
}

// TeamSLA overrides the SLA for one team. An override of the team beats
// one of the channel for all teams, for the SLA as for its clock.
type TeamSLA struct {
	Default  time.Duration            `yaml:"default"`
	Channels map[string]time.Duration `yaml:"channels"`
	// Clock is the team's clock ("" keeps anomaly.sla.clock or its
	// channel_clocks), ChannelClocks its clock per channel.
	Clock         Clock            `yaml:"clock"`
	ChannelClocks map[string]Clock `yaml:"channel_clocks"`
}

// Clock is the time an SLA counts.
type Clock string

// The clocks.
const (
	// ClockWall counts every second: nights, weekends and holidays too.
	ClockWall Clock = "wall"
	// ClockBusiness counts the working hours of the team's calendar only.
	ClockBusiness Clock = "business"
)

// ApprovalsConfig tunes the discount and approval detectors.
type ApprovalsConfig struct {
	// RequestWithin: a quote above its approval level that has not been
	// linked to an approval request this long after it was created fires
	// discount_without_approval. Default 1h.
	RequestWithin time.Duration `yaml:"request_within"`
	// Backlog: an approval request undecided this long fires
	// approval_backlog. Default 24h.
	Backlog time.Duration `yaml:"backlog"`
}

// OutlierConfig tunes the robust z-score detectors.
type OutlierConfig = outlier.Config

// ActivityConfig tunes the activity-drop detector.
type ActivityConfig struct {
	Disabled bool `yaml:"disabled"`
	// Window is the tumbling event-time window activity is counted in.
	// Default 2h.
	Window time.Duration `yaml:"window"`
	// DropRatio: a rep whose count is at most this share of what their
	// trailing share of the team's activity predicts fires activity_drop.
	// Default 0.2.
	DropRatio float64 `yaml:"drop_ratio"`
	// MinExpected: windows where the rep was expected to do fewer events
	// are not scored (nights, small partitions). Default 20 (10 paged a
	// generator rep by chance in a week).
	MinExpected float64 `yaml:"min_expected"`
	// MinWindows: a rep's share must have been seen in this many scored
	// windows first. Default 3.
	MinWindows int `yaml:"min_windows"`
}

// DealRiskConfig tunes the deal score detector (docs/scores.md): it
// computes every open opportunity's engagement features in event time
// and writes them to deal_features; with a model it scores them into
// deal_scores and fires deal_at_risk when a score drops.
type DealRiskConfig struct {
	// Disabled turns feature computation, scoring and deal_at_risk off.
	Disabled bool `yaml:"disabled"`
	// ModelFile is the model `salespulse score train` wrote. Empty:
	// features are computed and written (training needs them), nothing
	// is scored and deal_at_risk never fires.
	ModelFile string `yaml:"model_file"`
	// Drop: deal_at_risk fires when an opportunity's win probability is
	// this much (absolute, 0.2 = 20 points) below its highest since it
	// opened or since its last alert resolved. Default 0.2 (docs/scores.md,
	// "How often deal_at_risk fires").
	Drop float64 `yaml:"drop"`
	// Rescore: an open opportunity is scored again this long after its
	// last score in event time, events or not (a deal going quiet loses
	// its recent touches). Default 24h.
	Rescore time.Duration `yaml:"rescore"`
	// Reasons is how many top contributing features each score and alert
	// names. Default 3.
	Reasons int `yaml:"reasons"`
	// ForgetAfter drops an account's state when it had no event this
	// long; its open opportunity is forgotten with it. At least 30 days
	// (the longest feature window). Default 90 days (2160h).
	ForgetAfter time.Duration `yaml:"forget_after"`
}

// SignalsConfig tunes market-signal matching (docs/signals.md).
type SignalsConfig struct {
	// Disabled turns the market_signal detector off.
	Disabled bool `yaml:"disabled"`
	// Cooldown: a signal of the same kind for the same account within
	// this much event time of the last one that raised a task raises
	// none (counted as suppressed). Default 72h.
	Cooldown time.Duration `yaml:"cooldown"`
	// Hold is how long (event time) an unmatched signal waits for an
	// account with its domain or id to appear. Default 30 days.
	Hold time.Duration `yaml:"hold"`
	// MaxUnmatched is how many unmatched signals are kept per domain (or
	// account id), the most recent. Default 32.
	MaxUnmatched int `yaml:"max_unmatched"`
}

// Config validation errors, wrapped with the field path.
var (
	ErrNegative   = errors.New("must not be negative")
	ErrOutOfRange = errors.New("out of range")
	ErrChannel    = errors.New("unknown channel")
	ErrClock      = errors.New(`must be "wall" or "business"`)
	// ErrNoCalendars: a business clock is configured, but New got no
	// calendars (window.calendars) to count business hours in.
	ErrNoCalendars = errors.New("business clock without calendars (window.calendars)")
)

// SetDefaults fills the zero fields with their documented defaults.
func (c *Config) SetDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.OutOfOrder, time.Minute)
	def(&c.Cooldown, time.Hour)
	def(&c.ForgetAfter, 14*24*time.Hour)
	def(&c.SLA.Default, 30*time.Minute)
	if c.SLA.EscalateFactor == 0 {
		c.SLA.EscalateFactor = 4
	}
	if c.SLA.Clock == "" {
		c.SLA.Clock = ClockWall
	}
	def(&c.Approvals.RequestWithin, time.Hour)
	def(&c.Approvals.Backlog, 24*time.Hour)
	o := &c.Outliers
	if o.Threshold == 0 {
		o.Threshold = 3.5
	}
	if o.ClearBelow == 0 {
		o.ClearBelow = 0.8 * o.Threshold
	}
	if o.TeamWindow == 0 {
		o.TeamWindow = 200
	}
	if o.RepWindow == 0 {
		o.RepWindow = 10
	}
	if o.MinTeamSamples == 0 {
		o.MinTeamSamples = 50
	}
	if o.MinRepSamples == 0 {
		o.MinRepSamples = 8
	}
	def(&c.Signals.Cooldown, 72*time.Hour)
	def(&c.Signals.Hold, 30*24*time.Hour)
	if c.Signals.MaxUnmatched == 0 {
		c.Signals.MaxUnmatched = 32
	}
	a := &c.Activity
	def(&a.Window, 2*time.Hour)
	if a.DropRatio == 0 {
		a.DropRatio = 0.2
	}
	if a.MinExpected == 0 {
		a.MinExpected = 20
	}
	if a.MinWindows == 0 {
		a.MinWindows = 3
	}
	d := &c.DealRisk
	if d.Drop == 0 {
		d.Drop = 0.2
	}
	def(&d.Rescore, 24*time.Hour)
	if d.Reasons == 0 {
		d.Reasons = 3
	}
	def(&d.ForgetAfter, 90*24*time.Hour)
}

// Validate reports the first problem in c, its path starting "anomaly.".
// Call SetDefaults first: zero thresholds and ratios are invalid.
func (c Config) Validate() error {
	for _, d := range []struct {
		path string
		v    time.Duration
	}{
		{"out_of_orderness", c.OutOfOrder}, {"cooldown", c.Cooldown}, {"forget_after", c.ForgetAfter},
		{"sla.default", c.SLA.Default}, {"approvals.request_within", c.Approvals.RequestWithin},
		{"approvals.backlog", c.Approvals.Backlog}, {"activity.window", c.Activity.Window},
		{"signals.cooldown", c.Signals.Cooldown}, {"signals.hold", c.Signals.Hold},
	} {
		if d.v < 0 {
			return fmt.Errorf("anomaly.%s: %w", d.path, ErrNegative)
		}
	}
	chans := func(path string, m map[string]time.Duration) error {
		for ch, d := range m {
			if _, ok := schemas.ParseChannel([]byte(ch)); !ok {
				return fmt.Errorf("anomaly.%s.%s: %w", path, ch, ErrChannel)
			}
			if d <= 0 {
				return fmt.Errorf("anomaly.%s.%s: %w", path, ch, ErrOutOfRange)
			}
		}
		return nil
	}
	if err := chans("sla.channels", c.SLA.Channels); err != nil {
		return err
	}
	for team, t := range c.SLA.Teams {
		if t.Default < 0 {
			return fmt.Errorf("anomaly.sla.teams.%s.default: %w", team, ErrNegative)
		}
		if err := chans("sla.teams."+team+".channels", t.Channels); err != nil {
			return err
		}
	}
	if err := c.SLA.validateClocks(); err != nil {
		return err
	}
	if c.SLA.EscalateFactor > 0 && c.SLA.EscalateFactor <= 1 {
		return fmt.Errorf("anomaly.sla.escalate_factor: %w: must be > 1 (or negative to disable)", ErrOutOfRange)
	}
	o := c.Outliers
	switch {
	case !(o.Threshold > 0):
		return fmt.Errorf("anomaly.outliers.threshold: %w", ErrOutOfRange)
	case !(o.ClearBelow > 0 && o.ClearBelow <= o.Threshold):
		return fmt.Errorf("anomaly.outliers.clear_below: %w: must be in (0, threshold]", ErrOutOfRange)
	case o.TeamWindow < 3 || o.RepWindow < 1 || o.RepWindow > o.TeamWindow:
		return fmt.Errorf("anomaly.outliers.team_window/rep_window: %w", ErrOutOfRange)
	case o.MinTeamSamples < 3 || o.MinTeamSamples > o.TeamWindow:
		return fmt.Errorf("anomaly.outliers.min_team_samples: %w: must be in [3, team_window]", ErrOutOfRange)
	case o.MinRepSamples < 1 || o.MinRepSamples > o.RepWindow:
		return fmt.Errorf("anomaly.outliers.min_rep_samples: %w: must be in [1, rep_window]", ErrOutOfRange)
	}
	if c.Signals.MaxUnmatched < 0 {
		return fmt.Errorf("anomaly.signals.max_unmatched: %w", ErrNegative)
	}
	a := c.Activity
	switch {
	case !(a.DropRatio > 0 && a.DropRatio < 1):
		return fmt.Errorf("anomaly.activity.drop_ratio: %w: must be in (0, 1)", ErrOutOfRange)
	case !(a.MinExpected > 0):
		return fmt.Errorf("anomaly.activity.min_expected: %w", ErrOutOfRange)
	case a.MinWindows < 1:
		return fmt.Errorf("anomaly.activity.min_windows: %w", ErrOutOfRange)
	}
	d := c.DealRisk
	switch {
	case !(d.Drop > 0 && d.Drop < 1):
		return fmt.Errorf("anomaly.deal_risk.drop: %w: must be in (0, 1)", ErrOutOfRange)
	case d.Rescore < time.Minute:
		return fmt.Errorf("anomaly.deal_risk.rescore: %w: must be at least 1m", ErrOutOfRange)
	case d.Reasons < 1 || d.Reasons > len(schemas.DealFeatureNames):
		return fmt.Errorf("anomaly.deal_risk.reasons: %w: must be in [1, %d]", ErrOutOfRange, len(schemas.DealFeatureNames))
	case d.ForgetAfter < 30*24*time.Hour:
		return fmt.Errorf("anomaly.deal_risk.forget_after: %w: must be at least 720h (the 30-day feature window)", ErrOutOfRange)
	}
	return nil
}

// For returns the SLA of a team and trigger channel ("" for the team's
// default) and the clock it counts, as the SLA detector resolves them:
// readers of the response KBI (the console's attainment) judge by it.
func (c *SLAConfig) For(team, channel string) (time.Duration, Clock) {
	ch, _ := schemas.ParseChannel([]byte(channel))
	return c.slaFor(team, ch), c.clockFor(team, ch)
}

// slaFor returns the SLA of a team and channel.
func (c *SLAConfig) slaFor(team string, ch schemas.Channel) time.Duration {
	name := ch.String()
	if t, ok := c.Teams[team]; ok {
		if d, ok := t.Channels[name]; ok {
			return d
		}
		if t.Default > 0 {
			return t.Default
		}
	}
	if d, ok := c.Channels[name]; ok {
		return d
	}
	return c.Default
}

// clockFor returns the clock of a team and channel, overridden as slaFor
// overrides the SLA.
func (c *SLAConfig) clockFor(team string, ch schemas.Channel) Clock {
	name := ch.String()
	if t, ok := c.Teams[team]; ok {
		if k, ok := t.ChannelClocks[name]; ok {
			return k
		}
		if t.Clock != "" {
			return t.Clock
		}
	}
	if k, ok := c.ChannelClocks[name]; ok {
		return k
	}
	return c.Clock
}

// business reports whether any team or channel counts business hours.
func (c *SLAConfig) business() bool {
	has := func(k Clock, m map[string]Clock) bool {
		if k == ClockBusiness {
			return true
		}
		for _, v := range m {
			if v == ClockBusiness {
				return true
			}
		}
		return false
	}
	if c.Disabled {
		return false
	}
	if has(c.Clock, c.ChannelClocks) {
		return true
	}
	for _, t := range c.Teams {
		if has(t.Clock, t.ChannelClocks) {
			return true
		}
	}
	return false
}

func (c *SLAConfig) validateClocks() error {
	clocks := func(path string, m map[string]Clock) error {
		for ch, k := range m {
			if _, ok := schemas.ParseChannel([]byte(ch)); !ok {
				return fmt.Errorf("anomaly.%s.%s: %w", path, ch, ErrChannel)
			}
			if k != ClockWall && k != ClockBusiness {
				return fmt.Errorf("anomaly.%s.%s: %q: %w", path, ch, k, ErrClock)
			}
		}
		return nil
	}
	if c.Clock != ClockWall && c.Clock != ClockBusiness {
		return fmt.Errorf("anomaly.sla.clock: %q: %w", c.Clock, ErrClock)
	}
	if err := clocks("sla.channel_clocks", c.ChannelClocks); err != nil {
		return err
	}
	for _, team := range slices.Sorted(maps.Keys(c.Teams)) {
		t := c.Teams[team]
		if t.Clock != "" && t.Clock != ClockWall && t.Clock != ClockBusiness {
			return fmt.Errorf("anomaly.sla.teams.%s.clock: %q: %w", team, t.Clock, ErrClock)
		}
		if err := clocks("sla.teams."+team+".channel_clocks", t.ChannelClocks); err != nil {
			return err
		}
	}
	return nil
}
