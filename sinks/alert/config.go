package alert

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"time"
)

// Config configures the alert Producer's topic and the Dispatcher. Zero
// fields get the defaults documented on each field (SetDefaults).
type Config struct {
	// Topic is the durable alerts topic, keyed by alert id. Default
	// "sales.alerts".
	Topic string `yaml:"topic"`
	// ParkTopic holds deliveries a hook could not take (queue full,
	// retries exhausted, breaker open), with the hook's name in a header;
	// the Dispatcher consumes it too and retries them to that hook only
	// after ParkDelay. Default "sales.alerts.parked".
	ParkTopic string `yaml:"park_topic"`
	// Group is the Dispatcher's consumer group, separate from the
	// pipeline's. Default "salespulse-alerts".
	Group string `yaml:"group"`
	// ParkDelay is how long a parked delivery waits before it is tried
	// again. Default 30s.
	ParkDelay time.Duration `yaml:"park_delay"`
	// MaxInFlight bounds alerts consumed but not yet delivered or parked
	// by every hook. Default 10000.
	MaxInFlight int `yaml:"max_in_flight"`
	// CommitInterval is how often delivered offsets are committed.
	// Default 1s.
	CommitInterval time.Duration `yaml:"commit_interval"`
	// DrainTimeout bounds how long a stopping Dispatcher waits for
	// deliveries in progress; what is not done is redelivered by the next
	// run (at least once). Default 10s.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
	// Hooks are the delivery targets; several may match one alert.
	Hooks []HookConfig `yaml:"hooks"`
	// Ack is the acknowledgement endpoint (ack.go); off by default.
	Ack AckConfig `yaml:"ack"`

	// HTTPClient is used by every hook. Default: a client without overall
	// timeout (each attempt has its hook's Timeout). Not in YAML.
	HTTPClient *http.Client `yaml:"-"`
	// Now is the wall clock for signatures, backoff and parking. Default
	// time.Now. Not in YAML.
	Now func() time.Time `yaml:"-"`
}

// Hook types.
const (
	HookWebhook      = "webhook"
	HookSlack        = "slack"
	HookPagerDuty    = "pagerduty"
	HookAlertmanager = "alertmanager"
)

// HookConfig is one delivery target.
type HookConfig struct {
	// Name identifies the hook in metrics, logs and parked records.
	// Required, unique.
	Name string `yaml:"name"`
	// Type is "webhook", "slack", "pagerduty" or "alertmanager".
	Type string `yaml:"type"`
	// URL: the webhook endpoint; the Slack incoming-webhook URL; the
	// PagerDuty Events API (default https://events.pagerduty.com/v2/enqueue);
	// the Alertmanager base URL (…/api/v2/alerts is appended).
	URL string `yaml:"url"`
	// SecretEnv names the environment variable holding the webhook's HMAC
	// secret (required for webhook) or PagerDuty's routing key (required
	// for pagerduty). Secrets never live in the config file.
	SecretEnv string `yaml:"secret_env"`
	// Secret overrides SecretEnv (tests). Not in YAML.
	Secret string `yaml:"-"`
	// MinSeverity: alerts below it are not routed here. Default "info".
	MinSeverity string `yaml:"min_severity"`
	// Teams: only alerts of these team ids (default: all).
	Teams []string `yaml:"teams"`
	// Rules: only these rules (default: all).
	Rules []string `yaml:"rules"`
	// Pending also delivers pending transitions. Default false.
	Pending bool `yaml:"pending"`
	// Timeout bounds one delivery attempt. Default 5s.
	Timeout time.Duration `yaml:"timeout"`
	// RatePerSecond caps attempts per second (PagerDuty allows ~120/min
	// per routing key, Slack ~1/s per webhook). Default 10.
	RatePerSecond float64 `yaml:"rate_per_second"`
	// MaxAttempts per delivery before it is parked. Default 4.
	MaxAttempts int `yaml:"max_attempts"`
	// BackoffMin and BackoffMax bound the jittered exponential wait
	// between attempts. Defaults 200ms and 5s.
	BackoffMin time.Duration `yaml:"backoff_min"`
	BackoffMax time.Duration `yaml:"backoff_max"`
	// QueueSize bounds alerts waiting for this hook; beyond it they are
	// parked at once, so one slow hook never holds the others. Default 1000.
	QueueSize int `yaml:"queue_size"`
	// BreakerFailures consecutive failed attempts open the circuit:
	// deliveries are parked without trying for BreakerCooldown, then one
	// trial decides. Defaults 5 and 30s.
	BreakerFailures int           `yaml:"breaker_failures"`
	BreakerCooldown time.Duration `yaml:"breaker_cooldown"`
	// ResolveAfter is the endsAt Alertmanager gets for a firing alert,
	// counted from delivery: SalesPulse sends each state once instead of
	// re-sending like Prometheus, so without it Alertmanager would resolve
	// the alert after its resolve_timeout (5m). Default 24h.
	ResolveAfter time.Duration `yaml:"resolve_after"`

	// Routes say who an alert is for: each route that matches an alert
	// (rules, min_severity, teams as above) delivers it once to its
	// recipient (the alert's rep, manager or team), so one Slack hook can
	// remind the rep at lead_response_sla and page the manager at
	// lead_response_sla_escalated. Every matching route delivers (one
	// delivery per distinct recipient). Empty: one route made of the
	// hook's own min_severity, teams and rules with no recipient, which is
	// the behaviour before routes existed. An alert without the route's
	// recipient id (no rep, no manager) is not delivered by that route.
	Routes []RouteConfig `yaml:"routes"`

	// GroupBy turns on digests: alerts with equal values of these labels
	// (recipient, rule, team, severity, rep, manager, alert_id) go into one
	// group and the hook gets one notification per group flush instead of
	// one per alert, timed as Alertmanager's route does (GroupWait,
	// GroupInterval, RepeatInterval). Empty: one notification per alert.
	// Not for alertmanager hooks: Alertmanager groups itself.
	GroupBy []string `yaml:"group_by"`
	// GroupWait is how long a new group waits for more alerts before its
	// first notification. Default 30s (Alertmanager's).
	GroupWait time.Duration `yaml:"group_wait"`
	// GroupInterval is how long after a group's last flush new or changed
	// alerts of it are sent. Default 5m (Alertmanager's).
	GroupInterval time.Duration `yaml:"group_interval"`
	// RepeatInterval re-sends a group that still has firing alerts and
	// has not changed. Default 4h (Alertmanager's).
	RepeatInterval time.Duration `yaml:"repeat_interval"`
	// SendResolved puts resolved alerts into digests (and sends a digest
	// when every alert of a group resolved). Default true.
	SendResolved *bool `yaml:"send_resolved"`
	// QuietHours hold digest flushes of the recipients or teams they name
	// until the quiet period ends; the held alerts go out in one digest
	// then. Needs group_by (group_by: [alert_id] keeps one alert per
	// notification).
	QuietHours []QuietHours `yaml:"quiet_hours"`
	// BreakThrough: a new firing alert of at least this severity flushes
	// its group even in quiet hours. Default "" (nothing breaks through).
	BreakThrough string `yaml:"break_through"`
}

// Recipient roles of a route.
const (
	RecipientNone    = ""
	RecipientRep     = "rep"
	RecipientManager = "manager"
	RecipientTeam    = "team"
)

// RouteConfig is one routing rule of a hook.
type RouteConfig struct {
	// Rules: only these rules (default: all).
	Rules []string `yaml:"rules"`
	// MinSeverity: alerts below it are not routed. Default "info".
	MinSeverity string `yaml:"min_severity"`
	// Teams: only alerts of these team ids (default: all).
	Teams []string `yaml:"teams"`
	// Recipient is the role the route serves: "rep" (the alert's
	// rep_id), "manager" (its manager_id, from the org file), "team" (its
	// team_id) or "" (nobody in particular, as a hook without routes).
	Recipient string `yaml:"recipient"`
}

// QuietHours is one quiet period of a hook, in a time zone.
type QuietHours struct {
	// Teams and Recipients (recipient ids: rep or manager ids) it
	// applies to; both empty: every group of the hook. A group is judged
	// by its recipient and its alerts' team.
	Teams      []string `yaml:"teams"`
	Recipients []string `yaml:"recipients"`
	// From and To are local "HH:MM"; From after To spans midnight
	// ("20:00" to "08:00"). Both empty: no daily quiet period.
	From string `yaml:"from"`
	To   string `yaml:"to"`
	// Weekends makes Saturday and Sunday quiet all day.
	Weekends bool `yaml:"weekends"`
	// TimeZone is an IANA zone, e.g. "Europe/Berlin". Default "UTC".
	TimeZone string `yaml:"time_zone"`

	from, to int // minutes of the day; -1: none
	loc      *time.Location
}

// group labels.
var groupLabels = []string{"recipient", "rule", "team", "severity", "rep", "manager", "alert_id"}

// Configuration errors, wrapped with the field path.
var (
	ErrRequired      = errors.New("required")
	ErrHookType      = errors.New(`must be "webhook", "slack", "pagerduty" or "alertmanager"`)
	ErrURL           = errors.New("not an absolute http(s) URL")
	ErrSecret        = errors.New("secret_env names an unset or empty variable")
	ErrSeverity      = errors.New(`must be "info", "warning" or "critical"`)
	ErrDuplicate     = errors.New("duplicate")
	ErrNotPositive   = errors.New("must be positive")
	ErrRecipient     = errors.New(`must be "rep", "manager", "team" or ""`)
	ErrGroupLabel    = errors.New("must be one of recipient, rule, team, severity, rep, manager, alert_id")
	ErrAMGrouping    = errors.New("alertmanager hooks do not group: Alertmanager groups alerts itself (its route's group_by)")
	ErrQuietNoDigest = errors.New("quiet hours need group_by")
	ErrPendingDigest = errors.New("pending alerts cannot be grouped: one that clears goes back to inactive without a message, so it would stay in its digest")
	ErrClock         = errors.New(`must be "HH:MM"`)
	ErrTimeZone      = errors.New("unknown time zone")
)

// SetDefaults fills what the file left out; each default is written here
// only. Hooks are defaulted in place.
func (c *Config) SetDefaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.Topic, "sales.alerts")
	def(&c.ParkTopic, "sales.alerts.parked")
	def(&c.Group, "salespulse-alerts")
	if c.ParkDelay == 0 {
		c.ParkDelay = 30 * time.Second
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 10000
	}
	if c.CommitInterval == 0 {
		c.CommitInterval = time.Second
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = 10 * time.Second
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	c.Ack.setDefaults()
	for k := range c.Hooks {
		h := &c.Hooks[k]
		def(&h.MinSeverity, "info")
		if h.Type == HookPagerDuty {
			def(&h.URL, "https://events.pagerduty.com/v2/enqueue")
		}
		if h.Timeout == 0 {
			h.Timeout = 5 * time.Second
		}
		if h.RatePerSecond == 0 {
			h.RatePerSecond = 10
		}
		if h.MaxAttempts == 0 {
			h.MaxAttempts = 4
		}
		if h.BackoffMin == 0 {
			h.BackoffMin = 200 * time.Millisecond
		}
		if h.BackoffMax == 0 {
			h.BackoffMax = 5 * time.Second
		}
		if h.QueueSize == 0 {
			h.QueueSize = 1000
		}
		if h.BreakerFailures == 0 {
			h.BreakerFailures = 5
		}
		if h.BreakerCooldown == 0 {
			h.BreakerCooldown = 30 * time.Second
		}
		if h.ResolveAfter == 0 {
			h.ResolveAfter = 24 * time.Hour
		}
		if h.Secret == "" && h.SecretEnv != "" {
			h.Secret = os.Getenv(h.SecretEnv)
		}
		if len(h.Routes) == 0 {
			h.Routes = []RouteConfig{{Rules: h.Rules, MinSeverity: h.MinSeverity, Teams: h.Teams}}
		} else {
			h.Routes = append([]RouteConfig(nil), h.Routes...)
		}
		for k := range h.Routes {
			def(&h.Routes[k].MinSeverity, "info")
		}
		if h.GroupWait == 0 {
			h.GroupWait = 30 * time.Second
		}
		if h.GroupInterval == 0 {
			h.GroupInterval = 5 * time.Minute
		}
		if h.RepeatInterval == 0 {
			h.RepeatInterval = 4 * time.Hour
		}
		if h.SendResolved == nil {
			t := true
			h.SendResolved = &t
		}
		h.QuietHours = append([]QuietHours(nil), h.QuietHours...)
		for k := range h.QuietHours {
			q := &h.QuietHours[k]
			def(&q.TimeZone, "UTC")
			q.from, q.to = clock(q.From), clock(q.To)
			q.loc, _ = time.LoadLocation(q.TimeZone)
		}
	}
}

// clock parses "HH:MM" into minutes of the day; -1 if empty, -2 if bad.
func clock(s string) int {
	if s == "" {
		return -1
	}
	t, err := time.Parse("15:04", s)
	if err != nil {
		return -2
	}
	return t.Hour()*60 + t.Minute()
}

// Validate reports the first problem in c, wrapping a sentinel with the
// field's YAML path. It judges c as SetDefaults would complete it (on a
// copy), so a caller that validates before defaulting gets the same answer.
func (c Config) Validate() error {
	c.Hooks = append([]HookConfig(nil), c.Hooks...)
	c.SetDefaults()
	switch {
	case c.Topic == c.ParkTopic:
		return fmt.Errorf("alerts.park_topic: %w: must differ from topic", ErrDuplicate)
	case c.ParkDelay < 0:
		return fmt.Errorf("alerts.park_delay: %w", ErrNotPositive)
	case c.MaxInFlight < 0:
		return fmt.Errorf("alerts.max_in_flight: %w", ErrNotPositive)
	}
	if err := c.Ack.validate(); err != nil {
		return err
	}
	names := map[string]bool{}
	for k, h := range c.Hooks {
		p := fmt.Sprintf("alerts.hooks[%d].", k)
		if h.Name == "" {
			return fmt.Errorf("%sname: %w", p, ErrRequired)
		}
		if names[h.Name] {
			return fmt.Errorf("%sname: %w: %q", p, ErrDuplicate, h.Name)
		}
		names[h.Name] = true
		switch h.Type {
		case HookWebhook, HookSlack, HookPagerDuty, HookAlertmanager:
		default:
			return fmt.Errorf("%stype: %w", p, ErrHookType)
		}
		u, err := url.Parse(h.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%surl: %w: %q", p, ErrURL, h.URL)
		}
		if (h.Type == HookWebhook || h.Type == HookPagerDuty) && h.Secret == "" {
			return fmt.Errorf("%ssecret_env: %w: %q", p, ErrSecret, h.SecretEnv)
		}
		switch h.MinSeverity {
		case "info", "warning", "critical":
		default:
			return fmt.Errorf("%smin_severity: %w", p, ErrSeverity)
		}
		for i, r := range h.Routes {
			switch r.MinSeverity {
			case "info", "warning", "critical":
			default:
				return fmt.Errorf("%sroutes[%d].min_severity: %w", p, i, ErrSeverity)
			}
			switch r.Recipient {
			case RecipientNone, RecipientRep, RecipientManager, RecipientTeam:
			default:
				return fmt.Errorf("%sroutes[%d].recipient: %w", p, i, ErrRecipient)
			}
		}
		for i, l := range h.GroupBy {
			if !contains(groupLabels, l) {
				return fmt.Errorf("%sgroup_by[%d]: %w: %q", p, i, ErrGroupLabel, l)
			}
		}
		if h.Type == HookAlertmanager && (len(h.GroupBy) > 0 || len(h.QuietHours) > 0) {
			return fmt.Errorf("%sgroup_by: %w", p, ErrAMGrouping)
		}
		if h.Pending && len(h.GroupBy) > 0 {
			return fmt.Errorf("%spending: %w", p, ErrPendingDigest)
		}
		if len(h.QuietHours) > 0 && len(h.GroupBy) == 0 {
			return fmt.Errorf("%squiet_hours: %w", p, ErrQuietNoDigest)
		}
		switch h.BreakThrough {
		case "", "info", "warning", "critical":
		default:
			return fmt.Errorf("%sbreak_through: %w", p, ErrSeverity)
		}
		for i, q := range h.QuietHours {
			qp := fmt.Sprintf("%squiet_hours[%d].", p, i)
			switch {
			case q.from == -2:
				return fmt.Errorf("%sfrom: %w: %q", qp, ErrClock, q.From)
			case q.to == -2:
				return fmt.Errorf("%sto: %w: %q", qp, ErrClock, q.To)
			case (q.from == -1) != (q.to == -1):
				return fmt.Errorf("%sfrom/to: %w: both or neither", qp, ErrRequired)
			case q.loc == nil:
				return fmt.Errorf("%stime_zone: %w: %q", qp, ErrTimeZone, q.TimeZone)
			}
		}
		for _, d := range []struct {
			f string
			v float64
		}{
			{"timeout", float64(h.Timeout)}, {"rate_per_second", h.RatePerSecond}, {"max_attempts", float64(h.MaxAttempts)},
			{"backoff_min", float64(h.BackoffMin)}, {"backoff_max", float64(h.BackoffMax - h.BackoffMin + 1)},
			{"queue_size", float64(h.QueueSize)}, {"breaker_failures", float64(h.BreakerFailures)},
			{"breaker_cooldown", float64(h.BreakerCooldown)}, {"resolve_after", float64(h.ResolveAfter)},
			{"group_wait", float64(h.GroupWait)}, {"group_interval", float64(h.GroupInterval)}, {"repeat_interval", float64(h.RepeatInterval)},
		} {
			if !(d.v > 0) {
				return fmt.Errorf("%s%s: %w", p, d.f, ErrNotPositive)
			}
		}
	}
	return nil
}
