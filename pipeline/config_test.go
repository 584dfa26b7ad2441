package pipeline

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestConfigDefaultsThenValidate(t *testing.T) {
	var c Config
	c.SetDefaults()
	if c != (Config{Workers: 2, Queue: 4, DrainTimeout: 30 * time.Second}) {
		t.Errorf("defaults = %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
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
