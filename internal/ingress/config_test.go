package ingress

import (
	"errors"
	"testing"
	"time"
)

func TestShedAfterDefaults(t *testing.T) {
	f := func(produce, shed, want time.Duration, wantErr error) {
		t.Helper()
		c := Config{ProduceTimeout: produce, ShedAfter: shed}
		c.SetDefaults()
		if c.ShedAfter != want {
			t.Errorf("produce_timeout %s shed_after %s: defaulted to %s, want %s", produce, shed, c.ShedAfter, want)
		}
		if err := c.Validate(nil); !errors.Is(err, wantErr) || (wantErr == nil && err != nil) {
			t.Errorf("produce_timeout %s shed_after %s: %v, want %v", produce, shed, err, wantErr)
		}
	}
	f(0, 0, time.Second, nil)                                  // both defaulted
	f(300*time.Millisecond, 0, 300*time.Millisecond, nil)      // never past produce_timeout
	f(5*time.Second, 2*time.Second, 2*time.Second, nil)        // as set
	f(time.Second, 2*time.Second, 2*time.Second, ErrShedAfter) // a request would time out first
	f(time.Second, -time.Second, -time.Second, ErrPositive)
}
