package pipeline

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// The stage names of Config.Stages (pipeline.stages), in the order they run.
const (
	// StagePrivacy pseudonymises contact data before anything stores or
	// forwards it (package privacy). Always required.
	StagePrivacy = "privacy"
	// StageWindow computes the event-time KBIs (package window); with
	// the lead hop (leads.disabled false) it also sets the batches'
	// event-time progress.
	StageWindow = "window"
	// StageAnomaly runs the detectors and raises alerts (package anomaly).
	StageAnomaly = "anomaly"
)

// AllStages are the stage names in pipeline order: the default.
var AllStages = []string{StagePrivacy, StageWindow, StageAnomaly}

// Validation errors of pipeline.stages.
var (
	ErrUnknownStage   = errors.New("unknown stage")
	ErrDuplicateStage = errors.New("listed twice")
	ErrStageOrder     = errors.New("out of order")
	// ErrPrivacyRequired: the list leaves out privacy. Without it raw
	// contact data (e-mail addresses, phone numbers, names) would be
	// stored in ClickHouse and written to the lead topics, where erasure
	// by pseudonym (salespulse privacy erase) cannot find it.
	ErrPrivacyRequired = errors.New("privacy is required")
	// ErrAnomalyNeedsWindow: anomaly without window. The detectors read
	// windowed batches: behind the lead topics their clock moves only by
	// the progress the window sets (a lead's SLA would never expire), and
	// the window takes events beyond the allowed lateness out of the
	// batch before the detectors judge them.
	ErrAnomalyNeedsWindow = errors.New("anomaly needs window")
)

// Runs reports whether c runs the stage named name. Unset Stages (before
// SetDefaults) runs every stage.
func (c Config) Runs(name string) bool {
	return c.Stages == nil || slices.Contains(c.Stages, name)
}

// IngestOnly reports whether c runs no stateful stage: only privacy, so
// the raw interactions are all that is stored.
func (c Config) IngestOnly() bool {
	return !c.Runs(StageWindow) && !c.Runs(StageAnomaly)
}

// validateStages reports the first problem of a pipeline.stages list.
func validateStages(stages []string) error {
	last := -1 // position in AllStages of the previous name
	for k, s := range stages {
		at := slices.Index(AllStages, s)
		switch {
		case at < 0:
			return fmt.Errorf("pipeline.stages[%d]: %q: %w (want %s)", k, s, ErrUnknownStage, strings.Join(AllStages, ", "))
		case slices.Index(stages, s) < k:
			return fmt.Errorf("pipeline.stages[%d]: %q: %w", k, s, ErrDuplicateStage)
		case at < last:
			return fmt.Errorf("pipeline.stages[%d]: %q: %w: the stages always run as %s, and a list in another order would claim otherwise",
				k, s, ErrStageOrder, strings.Join(AllStages, ", "))
		}
		last = at
	}
	if !slices.Contains(stages, StagePrivacy) {
		return fmt.Errorf("pipeline.stages: %w: without it raw contact data would reach ClickHouse and the lead topics, where no erasure finds it", ErrPrivacyRequired)
	}
	if slices.Contains(stages, StageAnomaly) && !slices.Contains(stages, StageWindow) {
		return fmt.Errorf("pipeline.stages: %w: the detectors judge windowed batches and, behind the lead topics, move their clock by the window's progress", ErrAnomalyNeedsWindow)
	}
	return nil
}
