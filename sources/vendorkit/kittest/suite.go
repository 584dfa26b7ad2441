package kittest

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/salespulse/salespulse/schemas"
)

// Decode is the signature of every normaliser's Decoder.Decode.
type Decode func(dst []schemas.Interaction, value []byte) ([]schemas.Interaction, error)

// Format renders one Decode result as the bytes of its golden file.
type Format func(evs []schemas.Interaction, err error) []byte

// Events is the golden format of salesforce and hubspot: Marshal(Canonical),
// one string per joined error, sorted.
func Events(evs []schemas.Interaction, err error) []byte { return Marshal(Canonical(evs, err)) }

// Render is the golden format of zoom, graph, aircall and twilio:
// {"events":[…],"error":"…"}, the events as schemas.AppendJSON writes them
// (not re-escaped, unlike Events) and the whole error text in one string,
// indented by encoding/json.
func Render(evs []schemas.Interaction, err error) []byte {
	b := []byte(`{"events":[`)
	for k := range evs {
		if k > 0 {
			b = append(b, ',')
		}
		b = schemas.AppendJSON(b, &evs[k])
	}
	b = append(b, ']')
	if err != nil {
		e, _ := json.Marshal(err.Error())
		b = append(append(b, `,"error":`...), e...)
	}
	b = append(b, '}')
	var out bytes.Buffer
	if ierr := json.Indent(&out, b, "", "  "); ierr != nil {
		return b // surfaces as a golden mismatch
	}
	out.WriteByte('\n')
	return out.Bytes()
}

// Suite holds what the checks every normaliser's tests share need to know
// about one vendor. The zero values of the optional fields are the
// salesforce/hubspot conventions.
type Suite struct {
	Decode Decode
	// Source is Interaction.Source and FieldError.Source of the vendor.
	Source string
	// IDPrefix starts every EventID the vendor emits ("sf:", "zoom:").
	IDPrefix string
	// Dir holds the payloads and their goldens. Default "testdata".
	Dir string
	// Exts are the name extensions of payload files. Default [".json"].
	Exts []string
	// Format renders golden files. Default Events.
	Format Format
	// RulePrefix makes Reject match FieldError.Rule by prefix, for rules
	// that end in a parser's message.
	RulePrefix bool
}

func (s Suite) dir() string {
	if s.Dir == "" {
		return "testdata"
	}
	return s.Dir
}

func (s Suite) format(evs []schemas.Interaction, err error) []byte {
	if s.Format == nil {
		return Events(evs, err)
	}
	return s.Format(evs, err)
}

// Payloads lists the payload files of the suite's directory.
func (s Suite) Payloads(tb testing.TB) []string {
	tb.Helper()
	return Inputs(tb, s.dir(), s.Exts...)
}

// checkResult fails tb unless every event validates and is the vendor's and
// err is nil or a *schemas.FieldError wrapping schemas.ErrInvalid (what the
// Kafka source dead-letters; anything else would be retried forever).
func (s Suite) checkResult(tb testing.TB, evs []schemas.Interaction, err error) {
	tb.Helper()
	if err != nil {
		var fe *schemas.FieldError
		if !errors.As(err, &fe) || !errors.Is(err, schemas.ErrInvalid) {
			tb.Fatalf("error %v is not a *schemas.FieldError wrapping schemas.ErrInvalid", err)
		}
	}
	for k := range evs {
		if verr := evs[k].Validate(); verr != nil {
			tb.Fatalf("event %d does not validate: %v", k, verr)
		}
		if id := evs[k].EventID; evs[k].Source != s.Source || !strings.HasPrefix(id, s.IDPrefix) || len(id) == len(s.IDPrefix) {
			tb.Fatalf("event %d: source %q, id %q; want %q, %q…", k, evs[k].Source, id, s.Source, s.IDPrefix)
		}
	}
}

// Golden decodes every payload and compares the result with
// <dir>/<name>.golden.json (rewritten with -update). It also decodes each
// payload into a dirty, reused destination, which must give the same
// result: slots are reset before reuse.
func (s Suite) Golden(t *testing.T) {
	for _, path := range s.Payloads(t) {
		name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
		t.Run(name, func(t *testing.T) {
			value, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			evs, derr := s.Decode(nil, value)
			s.checkResult(t, evs, derr)
			got := s.format(evs, derr)
			dirty := []schemas.Interaction{{EventID: "x", RepID: "stale", Attributes: map[string]string{"stale": "1"}}}
			again, aerr := s.Decode(dirty[:0], value)
			if b := s.format(again, aerr); !bytes.Equal(b, got) {
				t.Errorf("decoding into a reused destination changed the result:\n%s", b)
			}
			CompareBytes(t, filepath.Join(s.dir(), name+".golden.json"), got)
		})
	}
}

// Fuzz seeds f with the payloads and checks, for any input, that Decode
// does not panic, that its result passes checkResult, and that decoding the
// same value again gives the same bytes.
func (s Suite) Fuzz(f *testing.F) {
	for _, p := range s.Payloads(f) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		evs, err := s.Decode(nil, value)
		s.checkResult(t, evs, err)
		again, err2 := s.Decode(nil, value)
		if a, b := s.format(evs, err), s.format(again, err2); !bytes.Equal(a, b) {
			t.Fatalf("not deterministic:\n%s\n%s", a, b)
		}
	})
}

// Owned decodes the payload file name of the suite's directory and checks
// that the interactions own their strings (the Kafka client reuses record
// buffers) and that a redelivery decodes the same, also into a reused slot.
func (s Suite) Owned(t *testing.T, name string) {
	t.Helper()
	value, err := os.ReadFile(filepath.Join(s.dir(), name))
	if err != nil {
		t.Fatal(err)
	}
	buf := bytes.Clone(value)
	a, err := s.Decode(nil, buf)
	if err != nil || len(a) == 0 {
		t.Fatalf("decode %s: %d events, %v", name, len(a), err)
	}
	want := s.format(a, nil)
	for k := range buf {
		buf[k] = 'x'
	}
	if got := s.format(a, nil); !bytes.Equal(got, want) {
		t.Errorf("interactions changed when the record buffer was overwritten:\n%s", got)
	}
	b, err := s.Decode(a[:0], value)
	if got := s.format(b, err); !bytes.Equal(got, want) {
		t.Errorf("redelivery into a reused slot decoded differently:\n%s", got)
	}
}

// Reject decodes value into a destination holding one interaction and
// checks that nothing is appended and that the error is one
// *schemas.FieldError of the vendor with this field, value and rule. name
// labels failures.
func (s Suite) Reject(t testing.TB, name, value, field, fieldValue, rule string) {
	t.Helper()
	dst := make([]schemas.Interaction, 1, 4)
	out, err := s.Decode(dst, []byte(value))
	if len(out) != 1 {
		t.Errorf("%s: dst changed to %d events", name, len(out))
	}
	var fe *schemas.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("%s: error %v is not a *schemas.FieldError", name, err)
	}
	if !errors.Is(err, schemas.ErrInvalid) {
		t.Errorf("%s: error does not wrap schemas.ErrInvalid", name)
	}
	ruleOK := fe.Rule == rule || s.RulePrefix && strings.HasPrefix(fe.Rule, rule)
	if fe.Source != s.Source || fe.Field != field || fe.Value != fieldValue || !ruleOK {
		t.Errorf("%s:\n got %q %q %q %q\nwant %q %q %q %q", name, fe.Source, fe.Field, fe.Value, fe.Rule, s.Source, field, fieldValue, rule)
	}
}

// Bench measures Decode of value into a reused destination; every call must
// yield want interactions and no error. It reports bytes/s, allocations and
// events/s.
func (s Suite) Bench(b *testing.B, value []byte, want int) {
	b.Helper()
	dst := make([]schemas.Interaction, 0, want)
	b.SetBytes(int64(len(value)))
	b.ReportAllocs()
	events := 0
	var err error
	for b.Loop() {
		dst, err = s.Decode(dst[:0], value)
		if err != nil || len(dst) != want {
			b.Fatalf("%v %d", err, len(dst))
		}
		events += len(dst)
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}
