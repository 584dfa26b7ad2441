package hubspot

import (
	"errors"
	"fmt"
	"slices"
)

// Config configures the HubSpot webhook decoder. SetDefaults (called by
// NewDecoder) fills only fields left nil or empty; an explicit empty YAML
// list (`[]`) stays empty.
type Config struct {
	// WonStages are internal dealstage ids meaning won (deal.won). Custom
	// pipelines use numeric ids; list them here. Default ["closedwon"].
	WonStages []string `yaml:"won_stages"`
	// LostStages are internal dealstage ids meaning lost (deal.lost).
	// Default ["closedlost"].
	LostStages []string `yaml:"lost_stages"`
}

// Errors returned (wrapped with the field path) by Config.Validate.
var (
	ErrEmptyValue      = errors.New("list holds an empty value")
	ErrStageWonAndLost = errors.New("stage is both won and lost")
)

// SetDefaults fills unset fields with their documented defaults.
func (c *Config) SetDefaults() {
	if c.WonStages == nil {
		c.WonStages = []string{"closedwon"}
	}
	if c.LostStages == nil {
		c.LostStages = []string{"closedlost"}
	}
}

// Validate checks c after defaults were applied.
func (c Config) Validate() error {
	if k := slices.Index(c.WonStages, ""); k >= 0 {
		return fmt.Errorf("won_stages[%d]: %w", k, ErrEmptyValue)
	}
	if k := slices.Index(c.LostStages, ""); k >= 0 {
		return fmt.Errorf("lost_stages[%d]: %w", k, ErrEmptyValue)
	}
	for k, s := range c.WonStages {
		if slices.Contains(c.LostStages, s) {
			return fmt.Errorf("won_stages[%d] %q: %w", k, s, ErrStageWonAndLost)
		}
	}
	return nil
}
