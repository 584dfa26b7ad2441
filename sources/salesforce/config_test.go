package salesforce

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"
)

func loadConfig(t *testing.T, path string) Config {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c Config
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	c.SetDefaults()
	return c
}

func TestConfigGood(t *testing.T) {
	files, _ := filepath.Glob("testdata/config/*.good.yml")
	for _, f := range files {
		if err := loadConfig(t, f).Validate(); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	c := loadConfig(t, "testdata/config/custom.good.yml")
	if len(c.EmailTaskSubtypes) != 0 {
		t.Errorf("an explicit empty list must stay empty, got %q", c.EmailTaskSubtypes)
	}
	if c.OpenTaskStatuses == nil || len(c.WonStages) != 2 {
		t.Errorf("defaults not applied to unset fields only: %+v", c)
	}
}

func TestConfigBad(t *testing.T) {
	for file, want := range map[string]error{
		"won_and_lost.bad.yml":  ErrStageWonAndLost,
		"empty_subtype.bad.yml": ErrEmptyValue,
		"currency.bad.yml":      ErrCurrency,
	} {
		err := loadConfig(t, filepath.Join("testdata/config", file)).Validate()
		if !errors.Is(err, want) {
			t.Errorf("%s: got %v, want %v", file, err, want)
		}
	}
	if _, err := NewDecoder(Config{DefaultCurrency: "usd"}, nil, nil); !errors.Is(err, ErrCurrency) {
		t.Errorf("NewDecoder must validate its config, got %v", err)
	}
}
