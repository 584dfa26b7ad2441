package pipeline

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestConfigDefaultsThenValidate(t *testing.T) {
	var c Config
	c.SetDefaults()
	want := Config{Workers: 2, Queue: 4, DrainTimeout: 30 * time.Second, Stages: []string{"privacy", "window", "anomaly"}}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults = %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
	// SetDefaults clones the default list: a caller appending to its
	// config must not change the next one's defaults.
	c.Stages[0] = "changed"
	if AllStages[0] != StagePrivacy {
		t.Errorf("SetDefaults shares AllStages")
	}
	f := func(c Config, path string, want error) {
		t.Helper()
		c.SetDefaults()
		err := c.Validate()
		if !errors.Is(err, want) || !strings.HasPrefix(err.Error(), path+":") {
			t.Errorf("Validate(%+v) = %v, want %v naming %s", c, err, want, path)
		}
	}
	f(Config{Workers: -1}, "pipeline.workers", ErrWorkers)
	f(Config{Queue: -1}, "pipeline.queue", ErrQueue)
	f(Config{DrainTimeout: -time.Second}, "pipeline.drain_timeout", ErrDrainTimeout)
}

func TestStages(t *testing.T) {
	valid := func(stages ...string) {
		t.Helper()
		c := Config{Stages: stages}
		c.SetDefaults()
		if err := c.Validate(); err != nil {
			t.Errorf("stages %q: %v", stages, err)
		}
	}
	valid("privacy")
	valid("privacy", "window")
	valid("privacy", "window", "anomaly")

	invalid := func(stages []string, want error, msg string) {
		t.Helper()
		c := Config{Stages: stages}
		c.SetDefaults()
		err := c.Validate()
		if !errors.Is(err, want) || err.Error() != msg {
			t.Errorf("stages %q:\n got %v\nwant %s (%v)", stages, err, msg, want)
		}
	}
	invalid([]string{"privacy", "windows"}, ErrUnknownStage,
		`pipeline.stages[1]: "windows": unknown stage (want privacy, window, anomaly)`)
	invalid([]string{"privacy", "window", "privacy"}, ErrDuplicateStage,
		`pipeline.stages[2]: "privacy": listed twice`)
	invalid([]string{"privacy", "anomaly", "window"}, ErrStageOrder,
		`pipeline.stages[2]: "window": out of order: the stages always run as privacy, window, anomaly, and a list in another order would claim otherwise`)
	invalid([]string{}, ErrPrivacyRequired,
		"pipeline.stages: privacy is required: without it raw contact data would reach ClickHouse and the lead topics, where no erasure finds it")
	invalid([]string{"window", "anomaly"}, ErrPrivacyRequired,
		"pipeline.stages: privacy is required: without it raw contact data would reach ClickHouse and the lead topics, where no erasure finds it")
	invalid([]string{"privacy", "anomaly"}, ErrAnomalyNeedsWindow,
		"pipeline.stages: anomaly needs window: the detectors judge windowed batches and, behind the lead topics, move their clock by the window's progress")

	for _, tc := range []struct {
		stages                []string
		window, anomaly, only bool
	}{
		{nil, true, true, false},
		{[]string{"privacy", "window", "anomaly"}, true, true, false},
		{[]string{"privacy", "window"}, true, false, false},
		{[]string{"privacy"}, false, false, true},
	} {
		c := Config{Stages: tc.stages}
		if c.Runs(StageWindow) != tc.window || c.Runs(StageAnomaly) != tc.anomaly || c.IngestOnly() != tc.only || !c.Runs(StagePrivacy) {
			t.Errorf("stages %q: window %v anomaly %v ingest-only %v", tc.stages, c.Runs(StageWindow), c.Runs(StageAnomaly), c.IngestOnly())
		}
	}
}
