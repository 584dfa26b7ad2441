package deadletter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/schemas"
)

func TestRule(t *testing.T) {
	for _, tc := range []struct {
		name   string
		reason error
		want   string
	}{
		{"a field error names its rule", schemas.Invalid("x", "id", "", "required"), "required"},
		{"a wrapped field error too", fmt.Errorf("decode: %w", schemas.Invalid("x", "id", "", "required")), "required"},
		{"details after a colon stay out of the label", schemas.Invalid("x", "", "", "malformed JSON: unexpected end at byte 36"), "malformed JSON"},
		{"a panic", PanicError{V: "boom"}, RulePanic},
		{"anything else is malformed", errors.New("bad"), RuleMalformed},
	} {
		if got := Rule(tc.reason); got != tc.want {
			t.Errorf("%s: Rule(%v) = %q, want %q", tc.name, tc.reason, got, tc.want)
		}
	}
}

func TestRecordCutsLongValuesAndErrors(t *testing.T) {
	r := &kgo.Record{Topic: "in", Partition: 3, Offset: 42, Key: []byte("k"), Value: []byte(strings.Repeat("v", 100)),
		Timestamp: time.Date(2025, 1, 2, 3, 4, 5, 6e6, time.UTC)}
	dl, msg := Letter{Topic: "dlq", Source: "canonical", Rule: RuleMalformed, Reason: errors.New(strings.Repeat("e", 20<<10)), MaxBytes: 10}.Record(r)
	h := map[string]string{}
	for _, x := range dl.Headers {
		h[x.Key] = string(x.Value)
	}
	if dl.Topic != "dlq" || string(dl.Key) != "k" || string(dl.Value) != strings.Repeat("v", 10) || !dl.Timestamp.Equal(r.Timestamp) {
		t.Fatalf("dead letter %+v", dl)
	}
	if h[HeaderTruncated] != "100" || h[HeaderTopic] != "in" || h[HeaderPartition] != "3" || h[HeaderOffset] != "42" ||
		h[HeaderTimestamp] != "2025-01-02T03:04:05.006Z" || h[HeaderRule] != RuleMalformed || h[HeaderSource] != "canonical" {
		t.Fatalf("headers %v", h)
	}
	if _, ok := h[HeaderField]; ok {
		t.Error("a field header without a field error")
	}
	if len(msg) > maxErrorHeader+len("…") || h[HeaderError] != msg {
		t.Errorf("error header of %d bytes", len(msg))
	}
}

func TestGroupWaitsForEveryLetter(t *testing.T) {
	var g Group
	g.Add()
	g.Add()
	g.Done(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := g.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait with one letter outstanding = %v, want the deadline", err)
	}
	boom := errors.New("boom")
	g.Done(boom)
	if err := g.Wait(context.Background()); err != boom {
		t.Fatalf("Wait = %v, want the produce error", err)
	}
}
