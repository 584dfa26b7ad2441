package salesforce

import (
	"errors"
	"fmt"
	"slices"
)

// Config configures the Salesforce Change Data Capture decoder. Defaults
// are applied by SetDefaults (and by NewDecoder), only to fields left nil or
// empty; an explicit empty YAML list (`[]`) keeps a list empty.
type Config struct {
	// WonStages are StageName values that mean the deal was won. Default
	// ["Closed Won"]. An Opportunity with IsWon=true also counts as won.
	WonStages []string `yaml:"won_stages"`
	// LostStages are StageName values that mean the deal was lost. Default
	// ["Closed Lost"].
	LostStages []string `yaml:"lost_stages"`
	// EmailTaskSubtypes are Task.TaskSubtype values logged as e-mails
	// (message.outbound). Default ["Email", "ListEmail"].
	EmailTaskSubtypes []string `yaml:"email_task_subtypes"`
	// EmailSubjectPrefixes mark a Task as an e-mail when its Subject starts
	// with one of them (Outlook/Gmail integrations log "Email: <subject>").
	// Default ["Email:"].
	EmailSubjectPrefixes []string `yaml:"email_subject_prefixes"`
	// OpenTaskStatuses are Task.Status values of to-dos not done yet; such
	// tasks are not interactions. Default ["Not Started", "In Progress",
	// "Waiting on someone else", "Deferred"].
	OpenTaskStatuses []string `yaml:"open_task_statuses"`
	// DefaultCurrency is used when a record has no CurrencyIsoCode (orgs
	// without multi-currency). ISO 4217. Default "" (no currency).
	DefaultCurrency string `yaml:"default_currency"`
}

// Errors returned (wrapped with the field path) by Config.Validate.
var (
	ErrEmptyValue      = errors.New("list holds an empty value")
	ErrStageWonAndLost = errors.New("stage is both won and lost")
	ErrCurrency        = errors.New("must be a three-letter upper-case ISO 4217 code")
)

// SetDefaults fills unset fields with their documented defaults.
func (c *Config) SetDefaults() {
	if c.WonStages == nil {
		c.WonStages = []string{"Closed Won"}
	}
	if c.LostStages == nil {
		c.LostStages = []string{"Closed Lost"}
	}
	if c.EmailTaskSubtypes == nil {
		c.EmailTaskSubtypes = []string{"Email", "ListEmail"}
	}
	if c.EmailSubjectPrefixes == nil {
		c.EmailSubjectPrefixes = []string{"Email:"}
	}
	if c.OpenTaskStatuses == nil {
		c.OpenTaskStatuses = []string{"Not Started", "In Progress", "Waiting on someone else", "Deferred"}
	}
}

// Validate checks c after defaults were applied.
func (c Config) Validate() error {
	for _, l := range []struct {
		name string
		v    []string
	}{
		{"won_stages", c.WonStages}, {"lost_stages", c.LostStages}, {"email_task_subtypes", c.EmailTaskSubtypes},
		{"email_subject_prefixes", c.EmailSubjectPrefixes}, {"open_task_statuses", c.OpenTaskStatuses},
	} {
		if k := slices.Index(l.v, ""); k >= 0 {
			return fmt.Errorf("%s[%d]: %w", l.name, k, ErrEmptyValue)
		}
	}
	for k, s := range c.WonStages {
		if slices.Contains(c.LostStages, s) {
			return fmt.Errorf("won_stages[%d] %q: %w", k, s, ErrStageWonAndLost)
		}
	}
	if cur := c.DefaultCurrency; cur != "" && !(len(cur) == 3 && upper(cur[0]) && upper(cur[1]) && upper(cur[2])) {
		return fmt.Errorf("default_currency %q: %w", cur, ErrCurrency)
	}
	return nil
}

func upper(c byte) bool { return c >= 'A' && c <= 'Z' }
