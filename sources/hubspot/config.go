package hubspot

import (
	"errors"
	"fmt"
	"slices"
)

// Config configures the HubSpot webhook decoder. SetDefaults (called by
// NewDecoder) fills only fields left nil or empty; an explicit empty YAML
// list (`[]`) stays empty.
//
// Stage lists hold internal deal stage ids (the Pipelines API's
// stages[].id, the "internal value" in HubSpot's pipeline settings), never
// labels: the default pipeline's are names such as "closedwon", stages of
// custom pipelines have numeric ids ("1043772") in older accounts and GUIDs
// ("4f9c4e5a-9d3b-4c57-8a5e-0f1d6b7c2a10") in newer ones. GUIDs match case-
// insensitively.
type Config struct {
	// WonStages are stage ids meaning won (deal.won). Default ["closedwon"].
	WonStages []string `yaml:"won_stages"`
	// LostStages are stage ids meaning lost (deal.lost).
	// Default ["closedlost"].
	LostStages []string `yaml:"lost_stages"`
	// OpenStages are stage ids known to be open: a change into them is
	// opportunity.stage_changed like any stage outside the two lists above,
	// but is not counted in salespulse_hubspot_unknown_stages_total. List
	// every open stage of your custom pipelines so that the metric means "a
	// stage nobody mapped" — typically a won or lost stage of a new pipeline
	// that would otherwise never count as won or lost. Default: the default
	// sales pipeline's open stages (appointmentscheduled, qualifiedtobuy,
	// presentationscheduled, decisionmakerboughtin, contractsent).
	OpenStages []string `yaml:"open_stages"`
	// LeadChangeSources are the changeSource values whose contact
	// creations open a lead (lead.created, the start of the response-time
	// clock); creations from other sources are skipped (reason
	// change_source). Values must be in HubSpot's documented list (see
	// changesource.go); "*" means every source. A creation without a
	// changeSource opens a lead: nothing says it was imported. Default:
	// DefaultLeadChangeSources (forms, chat, meetings, hand entry; not
	// IMPORT, API, INTEGRATION).
	LeadChangeSources []string `yaml:"lead_change_sources"`
}

// Errors returned (wrapped with the field path) by Config.Validate.
var (
	ErrEmptyValue      = errors.New("list holds an empty value")
	ErrStageWonAndLost = errors.New("stage is both won and lost")
	ErrStageOpenClosed = errors.New("stage is listed as open and as won or lost")
	ErrChangeSource    = errors.New("not a HubSpot change source (e.g. CRM_UI, FORM, IMPORT, API, INTEGRATION; see docs/sources.md) nor \"*\"")
	ErrStageID         = errors.New("must be an internal deal stage id (e.g. closedwon, 1043772 or a GUID) of at most 64 letters, digits, '-' and '_', not a stage label")
)

// SetDefaults fills unset fields with their documented defaults.
func (c *Config) SetDefaults() {
	if c.WonStages == nil {
		c.WonStages = []string{"closedwon"}
	}
	if c.LostStages == nil {
		c.LostStages = []string{"closedlost"}
	}
	if c.LeadChangeSources == nil {
		c.LeadChangeSources = DefaultLeadChangeSources
	}
	if c.OpenStages == nil {
		c.OpenStages = []string{"appointmentscheduled", "qualifiedtobuy", "presentationscheduled", "decisionmakerboughtin", "contractsent"}
	}
}

// Validate checks c after defaults were applied.
func (c Config) Validate() error {
	for _, l := range []struct {
		name string
		ids  []string
	}{{"won_stages", c.WonStages}, {"lost_stages", c.LostStages}, {"open_stages", c.OpenStages}} {
		for k, s := range l.ids {
			switch {
			case s == "":
				return fmt.Errorf("%s[%d]: %w", l.name, k, ErrEmptyValue)
			case !validStageID(s):
				return fmt.Errorf("%s[%d] %q: %w", l.name, k, s, ErrStageID)
			}
		}
	}
	for k, s := range c.LeadChangeSources {
		if s != "*" && !changeSources[s] {
			return fmt.Errorf("lead_change_sources[%d] %q: %w", k, s, ErrChangeSource)
		}
	}
	for k, s := range c.WonStages {
		if slices.ContainsFunc(c.LostStages, func(l string) bool { return sameStage(s, l) }) {
			return fmt.Errorf("won_stages[%d] %q: %w", k, s, ErrStageWonAndLost)
		}
	}
	for k, s := range c.OpenStages {
		if slices.ContainsFunc(append(slices.Clip(c.WonStages), c.LostStages...), func(w string) bool { return sameStage(s, w) }) {
			return fmt.Errorf("open_stages[%d] %q: %w", k, s, ErrStageOpenClosed)
		}
	}
	return nil
}

// validStageID accepts the forms HubSpot uses for internal stage ids and
// rejects labels ("Closed Won"), the usual mistake.
func validStageID(s string) bool {
	if len(s) > 64 {
		return false
	}
	for k := 0; k < len(s); k++ {
		c := s[k]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Stage id forms, the values of the form label of
// salespulse_hubspot_unknown_stages_total: a bounded set, whatever ids
// arrive.
const (
	formNumeric = "numeric" // custom pipeline stage of an older account
	formGUID    = "guid"    // custom pipeline stage of a newer account
	formName    = "name"    // default-pipeline style names, or anything else
)

var stageForms = []string{formNumeric, formGUID, formName}

// stageForm classifies a stage id for the metric label.
func stageForm(s string) string {
	if isDigits(s) {
		return formNumeric
	}
	if isGUID(s) {
		return formGUID
	}
	return formName
}

// isGUID reports whether s is 8-4-4-4-12 hexadecimal digits.
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for k := 0; k < len(s); k++ {
		c := s[k]
		switch k {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// sameStage compares stage ids: exactly, and GUIDs case-insensitively
// (HubSpot sends them lower-case; a copy from elsewhere may not be).
func sameStage(a, b string) bool {
	if a == b {
		return true
	}
	return len(a) == 36 && len(b) == 36 && isGUID(a) && isGUID(b) && equalFoldASCII(a, b)
}

func equalFoldASCII(a, b string) bool {
	for k := 0; k < len(a); k++ {
		x, y := a[k], b[k]
		if x >= 'A' && x <= 'Z' {
			x += 'a' - 'A'
		}
		if y >= 'A' && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
