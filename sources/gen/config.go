// Package gen generates a realistic, deterministic synthetic sales
// organisation and its interaction stream: teams in several time zones, reps
// who email, call, meet and sell during their working hours, leads that are
// answered after a lognormal delay (or never), quotes with discounts, some
// planted beyond authority, and manager approvals that sometimes take days.
//
// The same Config (seed included) always yields the same org file and the
// same byte stream, so tests, benchmarks and `salespulse dev` can check the
// pipeline's output against the generator's ground truth (Stats).
package gen

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	_ "time/tzdata" // the default sites name IANA zones; containers often lack /usr/share/zoneinfo
)

// Sentinel errors returned (wrapped with the field path) by Config.Validate.
var (
	ErrOutOfRange = errors.New("out of range")
	ErrTimeZone   = errors.New("unknown time zone")
	ErrClock      = errors.New("not a HH:MM time of day")
	ErrWeekday    = errors.New("not a weekday (mon, tue, ...)")
	ErrCurrency   = errors.New("not a three-letter upper-case currency code")
	ErrRequired   = errors.New("required")
	ErrCountry    = errors.New("not a country the generator has phone numbers for (US, GB, DE)")
)

// Config describes the synthetic organisation and its behaviour.
//
// Defaults live in DefaultConfig, the one place they are applied: YAML
// decoding starts from it (so a field left out keeps its default and an
// explicit 0 stays 0), and programmatic users start from it too. A zero
// Config is not valid.
type Config struct {
	// Seed makes org and stream reproducible: the same seed gives the same
	// bytes. Default 1.
	Seed uint64 `yaml:"seed"`
	// Teams is the number of teams. Default 4.
	Teams int `yaml:"teams"`
	// RepsPerTeam is the number of sellers per team, not counting the
	// manager. Default 8.
	RepsPerTeam int `yaml:"reps_per_team"`
	// SDRShare is the share of each team's sellers who are SDRs (they
	// prospect and qualify; AEs also quote and close). Default 0.25.
	SDRShare float64 `yaml:"sdr_share"`
	// Start is day 0: its calendar date is taken in every team's time zone,
	// and each team starts working at its site's Open time on the first work
	// day on or after it. Default Monday 2026-11-02.
	Start time.Time `yaml:"start"`
	// Days is how many calendar days to generate (weekends included); 0
	// means endless (until EndlessUntil, in 2099). Default 5.
	Days int `yaml:"days"`
	// Speed is event-time seconds per wall-clock second when producing; 0
	// means as fast as possible. Default 0.
	Speed float64 `yaml:"speed"`
	// InteractionsPerRepDay is the mean number of events attributed to a
	// seller per work day, follow-ups (responses, approvals) included.
	// Default 147.
	InteractionsPerRepDay float64 `yaml:"interactions_per_rep_day"`
	// Sites are the offices; teams are assigned to them round-robin.
	// Default Berlin, London, New York, Chicago, each 08:00–18:00 local.
	Sites []Site `yaml:"sites"`
	// WorkDays are the days reps work. Default mon–fri.
	WorkDays []string `yaml:"work_days"`
	// Source is the interactions' source field. Default "gen".
	Source string `yaml:"source"`
	// Mix is the share of events per channel. Default email 45 %, phone
	// 25 %, meeting 10 %, social 10 %, crm 10 %.
	Mix ChannelMix `yaml:"channel_mix"`
	// InboundShare is the share of email, phone and social touches that are
	// a prospect reaching in (each needs an answer). Default 0.30.
	InboundShare float64 `yaml:"inbound_share"`
	// Response is how fast reps answer leads.
	Response ResponseConfig `yaml:"response"`
	// Quotes is how AEs quote and discount.
	Quotes QuoteConfig `yaml:"quotes"`
	// Approvals is how managers decide discount approvals.
	Approvals ApprovalConfig `yaml:"approvals"`
	// WinRate is the chance that a late-stage opportunity closes won;
	// early-stage ones win at a third of it. Meetings in the 30 days
	// before the close raise it, none and deep discounts lower it
	// (docs/scores.md, "The generator's deals"). Default 0.35.
	WinRate float64 `yaml:"win_rate"`
	// TruthLimit caps each list of ids in Stats, so endless runs keep
	// bounded memory; counts are always exact. Default 10000.
	TruthLimit int `yaml:"truth_limit"`
	// DeliverySkew is how far (either way) each vendor topic's records
	// may be delivered from event-time order, as webhooks of different
	// vendors arrive minutes apart: every vendor gets a random offset in
	// [-skew, +skew], drawn again every hour of event time, so a call is
	// sometimes delivered before the CRM record of the lead it answers and
	// sometimes long after. Vendor format only; at most 1h. Default 0:
	// records in event-time order.
	DeliverySkew time.Duration `yaml:"delivery_skew"`
	// Forecasts is how reps and teams forecast their closed-won amounts.
	Forecasts ForecastConfig `yaml:"forecasts"`
	// AccountsTarget is every team's accounts_target in the org file:
	// distinct accounts per rep and period (docs/org-file.md). Default 40
	// (a seller's territory has 48 accounts); 0 writes none.
	AccountsTarget int `yaml:"accounts_target"`
	// WebhookRetries is the share of HubSpot, Zoom and Aircall webhook
	// records delivered a second time (the same event id, seconds to
	// minutes later), as those vendors retry a delivery they think failed.
	// Vendor format only. Default 0.
	WebhookRetries float64 `yaml:"webhook_retries"`
	// Signals are market signals about the generated accounts
	// (docs/signals.md): off unless PerDay > 0, so streams without them
	// stay byte-identical for a seed.
	Signals SignalsConfig `yaml:"signals"`
}

// SignalsConfig makes the generator emit market signals: an
// account.updated per account at the start (its owner is the rep whose
// territory it is, its domain the accounts' contacts' domain), then
// account.signal events for random accounts, drawn from their own random
// source.
type SignalsConfig struct {
	// PerDay is the mean number of signals per day over all accounts,
	// nights and weekends included. Default 0: none, and no account.updated.
	PerDay float64 `yaml:"per_day"`
	// UnmatchedShare of the signals name a domain no account has.
	// Default 0.05.
	UnmatchedShare float64 `yaml:"unmatched_share"`
}

// ForecastConfig is when reps and teams submit forecast.submitted events
// and how far off they are (docs/sources.md, "Forecasts"). For every
// period that starts after the generator's start, each seller and each
// team submits commit, best case and pipeline amounts a week before the
// period starts (a draft), two days before (the snapshot the accuracy KBI
// takes), and three days after it started (a late revision the KBI
// ignores); a period that started before the generator's start only gets
// the revision. The commit projects the closed-won run rate of the
// current period to the next one, times the team's bias and lognormal
// noise, so accuracy differs by team as the biases do.
type ForecastConfig struct {
	// Disabled turns forecasts off.
	Disabled bool `yaml:"disabled"`
	// Period is "month" or "quarter". Default "month".
	Period string `yaml:"period"`
	// TeamBias multiplies each team's commit forecasts, cycled over the
	// teams in order: below 1 a team sandbags, above 1 it over-forecasts.
	// Default [0.8, 1.0, 1.3, 1.1].
	TeamBias []float64 `yaml:"team_bias"`
	// Noise is the sigma of the lognormal noise on each submission.
	// Default 0.1.
	Noise float64 `yaml:"noise"`
}

// Site is an office: where its teams work and when.
type Site struct {
	Name     string `yaml:"name"`      // e.g. "Berlin"; used in team names
	Region   string `yaml:"region"`    // e.g. "emea", "na"
	TimeZone string `yaml:"time_zone"` // IANA name
	Currency string `yaml:"currency"`  // ISO 4217 code of its quotes and deals
	Open     string `yaml:"open"`      // "08:00" local
	Close    string `yaml:"close"`     // "18:00" local, after Open
	// Country (ISO 3166-1 alpha-2, one of SupportedCountries) is where
	// its teams' leads and customers are: their phone numbers, and the
	// country a CRM's national numbers are read in. Empty: DE for
	// Europe/Berlin, GB for Europe/London, else US.
	Country string `yaml:"country"`
}

// ChannelMix is the target share of all events per channel. The shares are
// normalised, so they need not sum to exactly 1.
type ChannelMix struct {
	Email   float64 `yaml:"email"`
	Phone   float64 `yaml:"phone"`
	Meeting float64 `yaml:"meeting"`
	Social  float64 `yaml:"social"`
	CRM     float64 `yaml:"crm"` // lead.created, stage changes, quotes, approvals, deals
}

// ResponseConfig is the delay between a lead's inbound touch and the rep's
// answer: lognormal with the given median and sigma (of the underlying
// normal), capped at Max, then moved into the rep's working hours (a lead
// arriving Friday 17:50 is answered Monday morning).
type ResponseConfig struct {
	Median time.Duration `yaml:"median"` // default 18m
	Sigma  float64       `yaml:"sigma"`  // default 1.2: p90 ≈ 1h20m, p99 ≈ 5h
	Max    time.Duration `yaml:"max"`    // default 72h
	// NeverAnswered is the share of new leads that never get any outbound
	// touch (planted SLA breaches). Default 0.08.
	NeverAnswered float64 `yaml:"never_answered"`
}

// QuoteConfig shapes quotes and their discounts. A discount is 0 with
// probability ZeroShare, in (NormalMaxPct, HighMaxPct] with HighShare,
// planted in [PlantedMinPct, PlantedMaxPct] with PlantedShare, and otherwise
// in (0, NormalMaxPct]; all in steps of 0.5 points.
type QuoteConfig struct {
	// Share is the share of an AE's CRM actions that create a quote. Default 0.2.
	Share           float64 `yaml:"share"`
	ListPriceMedian float64 `yaml:"list_price_median"` // default 24000
	ZeroShare       float64 `yaml:"zero_share"`        // default 0.30
	NormalMaxPct    float64 `yaml:"normal_max_pct"`    // default 15
	HighShare       float64 `yaml:"high_share"`        // default 0.12
	HighMaxPct      float64 `yaml:"high_max_pct"`      // default 25
	PlantedShare    float64 `yaml:"planted_share"`     // default 0.03: beyond anyone's authority
	PlantedMinPct   float64 `yaml:"planted_min_pct"`   // default 35
	PlantedMaxPct   float64 `yaml:"planted_max_pct"`   // default 50
	// ApprovalAbovePct: discounts above it ask the manager for approval;
	// half of the planted ones skip the request (that is the anomaly).
	// Default 10.
	ApprovalAbovePct float64 `yaml:"approval_above_pct"`
}

// ApprovalConfig is the manager's decision delay: lognormal, then moved into
// the manager's working hours, so requests sent Friday afternoon are decided
// Monday (> 24 h, which the approval-latency KBI should flag).
type ApprovalConfig struct {
	Median      time.Duration `yaml:"median"`       // default 3h
	Sigma       float64       `yaml:"sigma"`        // default 1.1
	Max         time.Duration `yaml:"max"`          // default 120h
	ApproveRate float64       `yaml:"approve_rate"` // default 0.85
}

// DefaultStart is the default day 0: Monday 2026-11-02.
var DefaultStart = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)

// DefaultSites are the default offices.
func DefaultSites() []Site {
	return []Site{
		{Name: "Berlin", Region: "emea", TimeZone: "Europe/Berlin", Currency: "EUR", Open: "08:00", Close: "18:00", Country: "DE"},
		{Name: "London", Region: "emea", TimeZone: "Europe/London", Currency: "GBP", Open: "08:00", Close: "18:00", Country: "GB"},
		{Name: "New York", Region: "na", TimeZone: "America/New_York", Currency: "USD", Open: "08:00", Close: "18:00", Country: "US"},
		{Name: "Chicago", Region: "na", TimeZone: "America/Chicago", Currency: "USD", Open: "08:00", Close: "18:00", Country: "US"},
	}
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Seed:                  1,
		Teams:                 4,
		RepsPerTeam:           8,
		SDRShare:              0.25,
		Start:                 DefaultStart,
		Days:                  5,
		InteractionsPerRepDay: 147,
		Sites:                 DefaultSites(),
		WorkDays:              []string{"mon", "tue", "wed", "thu", "fri"},
		Source:                "gen",
		Mix:                   ChannelMix{Email: 0.45, Phone: 0.25, Meeting: 0.10, Social: 0.10, CRM: 0.10},
		InboundShare:          0.30,
		Response:              ResponseConfig{Median: 18 * time.Minute, Sigma: 1.2, Max: 72 * time.Hour, NeverAnswered: 0.08},
		Quotes: QuoteConfig{
			Share: 0.2, ListPriceMedian: 24000, ZeroShare: 0.30, NormalMaxPct: 15, HighShare: 0.12, HighMaxPct: 25,
			PlantedShare: 0.03, PlantedMinPct: 35, PlantedMaxPct: 50, ApprovalAbovePct: 10,
		},
		Approvals:      ApprovalConfig{Median: 3 * time.Hour, Sigma: 1.1, Max: 120 * time.Hour, ApproveRate: 0.85},
		WinRate:        0.35,
		TruthLimit:     10000,
		Forecasts:      ForecastConfig{Period: "month", TeamBias: []float64{0.8, 1.0, 1.3, 1.1}, Noise: 0.1},
		AccountsTarget: 40,
		Signals:        SignalsConfig{UnmatchedShare: 0.05},
	}
}

// UnmarshalYAML decodes onto DefaultConfig, so omitted fields keep their
// defaults.
func (c *Config) UnmarshalYAML(unmarshal func(any) error) error {
	*c = DefaultConfig()
	type plain Config
	return unmarshal((*plain)(c))
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// Validate checks c. Errors wrap one of the Err* sentinels with the field's
// YAML path.
func (c *Config) Validate() error {
	bad := func(field string, err error, format string, args ...any) error {
		if format == "" {
			return fmt.Errorf("gen.%s: %w", field, err)
		}
		return fmt.Errorf("gen.%s: %w: %s", field, err, fmt.Sprintf(format, args...))
	}
	prob := func(field string, v float64) error {
		if !(v >= 0 && v <= 1) {
			return bad(field, ErrOutOfRange, "%v is not between 0 and 1", v)
		}
		return nil
	}
	switch {
	case c.Forecasts.Period != "month" && c.Forecasts.Period != "quarter":
		return bad("forecasts.period", ErrOutOfRange, "%q is neither month nor quarter", c.Forecasts.Period)
	case len(c.Forecasts.TeamBias) == 0 && !c.Forecasts.Disabled:
		return bad("forecasts.team_bias", ErrRequired, "")
	case !(c.Forecasts.Noise >= 0 && c.Forecasts.Noise <= 2):
		return bad("forecasts.noise", ErrOutOfRange, "%v is not between 0 and 2", c.Forecasts.Noise)
	case !validBiases(c.Forecasts.TeamBias):
		return bad("forecasts.team_bias", ErrOutOfRange, "%v: each must be in (0, 10]", c.Forecasts.TeamBias)
	case c.AccountsTarget < 0 || c.AccountsTarget > 100000:
		return bad("accounts_target", ErrOutOfRange, "%d is not between 0 and 100000", c.AccountsTarget)
	case c.Teams < 1 || c.Teams > 1000:
		return bad("teams", ErrOutOfRange, "%d is not between 1 and 1000", c.Teams)
	case c.RepsPerTeam < 1 || c.RepsPerTeam > 1000:
		return bad("reps_per_team", ErrOutOfRange, "%d is not between 1 and 1000", c.RepsPerTeam)
	case c.Start.IsZero():
		return bad("start", ErrRequired, "")
	case c.Start.Year() < 2000 || c.Start.Year() > 2090:
		return bad("start", ErrOutOfRange, "%s is not between 2000 and 2090", c.Start.Format(time.DateOnly))
	case c.Days < 0 || c.Days > 3650:
		return bad("days", ErrOutOfRange, "%d is not between 0 (endless) and 3650", c.Days)
	case !(c.Speed >= 0) || math.IsInf(c.Speed, 0):
		return bad("speed", ErrOutOfRange, "%v must be a finite number >= 0", c.Speed)
	case !(c.InteractionsPerRepDay > 0 && c.InteractionsPerRepDay <= 100000):
		return bad("interactions_per_rep_day", ErrOutOfRange, "%v is not in (0, 100000]", c.InteractionsPerRepDay)
	case len(c.Sites) == 0:
		return bad("sites", ErrRequired, "")
	case len(c.WorkDays) == 0:
		return bad("work_days", ErrRequired, "")
	case c.Source == "":
		return bad("source", ErrRequired, "")
	case c.TruthLimit < 0:
		return bad("truth_limit", ErrOutOfRange, "%d is negative", c.TruthLimit)
	case c.DeliverySkew < 0 || c.DeliverySkew > time.Hour:
		return bad("delivery_skew", ErrOutOfRange, "%v is not between 0 and 1h", c.DeliverySkew)
	}
	for k, s := range c.Sites {
		p := fmt.Sprintf("sites[%d].", k)
		if s.Name == "" {
			return bad(p+"name", ErrRequired, "")
		}
		if s.Country != "" && phonePlans[s.Country] == nil {
			return bad(p+"country", ErrCountry, "%q", s.Country)
		}
		if _, err := time.LoadLocation(s.TimeZone); err != nil || s.TimeZone == "" {
			return bad(p+"time_zone", ErrTimeZone, "%q", s.TimeZone)
		}
		if len(s.Currency) != 3 || strings.ToUpper(s.Currency) != s.Currency || strings.IndexFunc(s.Currency, func(r rune) bool { return r < 'A' || r > 'Z' }) >= 0 {
			return bad(p+"currency", ErrCurrency, "%q", s.Currency)
		}
		o, err := parseClock(s.Open)
		if err != nil {
			return bad(p+"open", ErrClock, "%q", s.Open)
		}
		cl, err := parseClock(s.Close)
		if err != nil {
			return bad(p+"close", ErrClock, "%q", s.Close)
		}
		if cl <= o {
			return bad(p+"close", ErrOutOfRange, "%s is not after open %s", s.Close, s.Open)
		}
	}
	seen := map[time.Weekday]bool{}
	for k, d := range c.WorkDays {
		wd, ok := weekdays[strings.ToLower(d)]
		if !ok || seen[wd] {
			return bad(fmt.Sprintf("work_days[%d]", k), ErrWeekday, "%q (or repeated)", d)
		}
		seen[wd] = true
	}
	m := c.Mix
	for _, f := range []struct {
		name string
		v    float64
	}{{"email", m.Email}, {"phone", m.Phone}, {"meeting", m.Meeting}, {"social", m.Social}, {"crm", m.CRM}} {
		if !(f.v >= 0 && f.v <= 1) {
			return bad("channel_mix."+f.name, ErrOutOfRange, "%v is not between 0 and 1", f.v)
		}
	}
	if m.Email+m.Phone+m.Meeting+m.Social+m.CRM <= 0 {
		return bad("channel_mix", ErrOutOfRange, "shares sum to 0")
	}
	for _, f := range []struct {
		name string
		v    float64
	}{
		{"sdr_share", c.SDRShare}, {"inbound_share", c.InboundShare}, {"response.never_answered", c.Response.NeverAnswered},
		{"quotes.share", c.Quotes.Share}, {"quotes.zero_share", c.Quotes.ZeroShare}, {"quotes.high_share", c.Quotes.HighShare},
		{"quotes.planted_share", c.Quotes.PlantedShare}, {"approvals.approve_rate", c.Approvals.ApproveRate}, {"win_rate", c.WinRate},
		{"webhook_retries", c.WebhookRetries},
	} {
		if err := prob(f.name, f.v); err != nil {
			return err
		}
	}
	q := c.Quotes
	switch {
	case q.ZeroShare+q.HighShare+q.PlantedShare > 1:
		return bad("quotes", ErrOutOfRange, "zero_share + high_share + planted_share exceed 1")
	case !(q.ListPriceMedian > 0 && q.ListPriceMedian < 1e12):
		return bad("quotes.list_price_median", ErrOutOfRange, "%v is not in (0, 1e12)", q.ListPriceMedian)
	case !(q.NormalMaxPct >= 0.5 && q.NormalMaxPct < q.HighMaxPct):
		return bad("quotes.normal_max_pct", ErrOutOfRange, "%v is not in [0.5, high_max_pct)", q.NormalMaxPct)
	case !(q.HighMaxPct <= q.PlantedMinPct):
		return bad("quotes.high_max_pct", ErrOutOfRange, "%v is above planted_min_pct", q.HighMaxPct)
	case !(q.PlantedMinPct <= q.PlantedMaxPct && q.PlantedMaxPct <= 100):
		return bad("quotes.planted_max_pct", ErrOutOfRange, "%v is not in [planted_min_pct, 100]", q.PlantedMaxPct)
	case !(q.ApprovalAbovePct >= 0 && q.ApprovalAbovePct <= 100):
		return bad("quotes.approval_above_pct", ErrOutOfRange, "%v is not between 0 and 100", q.ApprovalAbovePct)
	}
	for _, d := range []struct {
		name       string
		median     time.Duration
		sigma      float64
		max        time.Duration
		maxAllowed time.Duration
	}{
		{"response", c.Response.Median, c.Response.Sigma, c.Response.Max, 30 * 24 * time.Hour},
		{"approvals", c.Approvals.Median, c.Approvals.Sigma, c.Approvals.Max, 30 * 24 * time.Hour},
	} {
		switch {
		case d.median < time.Second || d.median > d.maxAllowed:
			return bad(d.name+".median", ErrOutOfRange, "%v is not between 1s and %v", d.median, d.maxAllowed)
		case !(d.sigma >= 0 && d.sigma <= 5):
			return bad(d.name+".sigma", ErrOutOfRange, "%v is not between 0 and 5", d.sigma)
		case d.max < d.median || d.max > d.maxAllowed:
			return bad(d.name+".max", ErrOutOfRange, "%v is not between the median and %v", d.max, d.maxAllowed)
		}
	}
	if !(c.Signals.PerDay >= 0 && c.Signals.PerDay <= 1e6) {
		return bad("signals.per_day", ErrOutOfRange, "%v is not between 0 and 1000000", c.Signals.PerDay)
	}
	return prob("signals.unmatched_share", c.Signals.UnmatchedShare)
}

// parseClock parses "HH:MM" into minutes after midnight.
func parseClock(s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, err
	}
	return t.Hour()*60 + t.Minute(), nil
}

func validBiases(bs []float64) bool {
	for _, b := range bs {
		if !(b > 0 && b <= 10) {
			return false
		}
	}
	return true
}
