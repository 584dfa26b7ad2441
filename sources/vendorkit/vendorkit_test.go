package vendorkit

import (
	"strings"
	"testing"
)

func TestE164(t *testing.T) {
	for in, want := range map[string]string{
		"+1 800-123-4567":    "+18001234567",
		"0044 20 7946 0000":  "+442079460000",
		"+49 (30) 1234-5678": "+493012345678",
		"06 12 34 56 78":     "0612345678",
		"anonymous":          "",
		"12":                 "",
		"+1234567890123456":  "",
		"1+2":                "",
		"":                   "",
	} {
		got, ok := E164(nil, []byte(in))
		if string(got) != want || ok != (want != "") {
			t.Errorf("E164(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

// TestValidTopic: Kafka's topic name rule. (The message naming the config
// key is the app's: internal/app testdata/sources.bad.yml.)
func TestValidTopic(t *testing.T) {
	for _, good := range []string{"sales.zoom", "a", "A-b_c.9", strings.Repeat("t", 249)} {
		if !ValidTopic(good) {
			t.Errorf("topic %q rejected", good)
		}
	}
	for _, bad := range []string{"", "with space", strings.Repeat("t", 250), ".", "..", "ü"} {
		if ValidTopic(bad) {
			t.Errorf("topic %q accepted", bad)
		}
	}
}
