package gen

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func loadConfig(t *testing.T, file string) (Config, error) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	var cfg Config
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return cfg, cfg.Validate()
}

func TestConfigGood(t *testing.T) {
	cfg, err := loadConfig(t, "default.good.yml")
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.Seed = 7
	if cfg.Seed != 7 || cfg.Teams != want.Teams || cfg.Response != want.Response || cfg.Quotes != want.Quotes ||
		len(cfg.Sites) != 4 || !cfg.Start.Equal(DefaultStart) || cfg.Days != 5 {
		t.Fatalf("omitted fields did not keep their defaults: %+v", cfg)
	}

	cfg, err = loadConfig(t, "full.good.yml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Days != 0 || cfg.Speed != 60 || cfg.Response.NeverAnswered != 0 || cfg.Response.Median != 25*time.Minute ||
		cfg.Quotes.ApprovalAbovePct != 12 || cfg.Quotes.ListPriceMedian != 24000 || len(cfg.WorkDays) != 6 ||
		cfg.Start.Format(time.DateOnly) != "2026-11-09" || cfg.Sites[1].TimeZone != "Asia/Tokyo" ||
		cfg.Sites[0].Country != "DE" || cfg.DeliverySkew != 2*time.Minute || cfg.WebhookRetries != 0.02 {
		t.Fatalf("explicit values (zeros included) not applied, or partial sections lost defaults: %+v", cfg)
	}
	if cfg.Forecasts.Period != "quarter" || len(cfg.Forecasts.TeamBias) != 1 || cfg.Forecasts.Noise != 0.2 || cfg.AccountsTarget != 100 {
		t.Fatalf("forecasts or accounts_target not applied: %+v", cfg)
	}
	if _, err := New(cfg); err != nil {
		t.Fatal(err)
	}
}

func TestConfigBad(t *testing.T) {
	for _, tc := range []struct {
		file  string
		err   error
		field string
	}{
		{"teams.bad.yml", ErrOutOfRange, "gen.teams"},
		{"days.bad.yml", ErrOutOfRange, "gen.days"},
		{"speed.bad.yml", ErrOutOfRange, "gen.speed"},
		{"timezone.bad.yml", ErrTimeZone, "gen.sites[0].time_zone"},
		{"hours.bad.yml", ErrOutOfRange, "gen.sites[0].close"},
		{"clock.bad.yml", ErrClock, "gen.sites[0].open"},
		{"currency.bad.yml", ErrCurrency, "gen.sites[0].currency"},
		{"weekday.bad.yml", ErrWeekday, "gen.work_days[1]"},
		{"mix.bad.yml", ErrOutOfRange, "gen.channel_mix"},
		{"never.bad.yml", ErrOutOfRange, "gen.response.never_answered"},
		{"planted.bad.yml", ErrOutOfRange, "gen.quotes.high_max_pct"},
		{"country.bad.yml", ErrCountry, "gen.sites[0].country"},
		{"skew.bad.yml", ErrOutOfRange, "gen.delivery_skew"},
		{"retries.bad.yml", ErrOutOfRange, "gen.webhook_retries"},
		{"forecasts.bad.yml", ErrOutOfRange, "gen.forecasts.period"},
		{"bias.bad.yml", ErrOutOfRange, "gen.forecasts.team_bias"},
	} {
		_, err := loadConfig(t, tc.file)
		if !errors.Is(err, tc.err) || !strings.HasPrefix(err.Error(), tc.field+":") {
			t.Errorf("%s: error %v, want %v at %s", tc.file, err, tc.err, tc.field)
		}
	}
	if err := (&Config{}).Validate(); err == nil {
		t.Error("a zero Config passed Validate")
	}
	if _, err := New(Config{}); err == nil {
		t.Error("New accepted a zero Config")
	}
}

func TestConfigMisspeltKeyIsRejected(t *testing.T) {
	dec := yaml.NewDecoder(strings.NewReader("seed: 3\nteamz: 2\n"))
	dec.KnownFields(true) // defaults applied by UnmarshalYAML must not lose strictness
	var c Config
	if err := dec.Decode(&c); err == nil || !strings.Contains(err.Error(), "teamz") {
		t.Fatalf("err = %v, want the misspelt key named", err)
	}
}
