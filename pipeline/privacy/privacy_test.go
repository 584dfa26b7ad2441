package privacy

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/salespulse/salespulse/schemas"
)

// Golden values computed independently with
//
//	printf '%s' "$input" | openssl dgst -sha256 -hmac "$key" -binary | head -c16 | base64 | tr '+/' '-_' | tr -d =
const (
	goldenKey  = "golden-key-0123456789abcdef-0123456789"
	previousKy = "previous-key-abcdefghijklmnopqrstuvwxyz"
)

// keyFile writes secret to a file in a temp dir and returns its path.
func keyFile(t *testing.T, secret string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(p, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func newGolden(t *testing.T) *Pseudonymizer {
	t.Helper()
	p, err := New(Config{
		Key:          KeyRef{ID: "k2", File: keyFile(t, goldenKey)},
		PreviousKeys: []KeyRef{{ID: "k1", File: keyFile(t, previousKy)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestApplyGoldenContactKey(t *testing.T) {
	p := newGolden(t)
	f := func(c schemas.Contact, want string) {
		t.Helper()
		it := schemas.Interaction{Contact: c}
		p.Apply(&it)
		if it.ContactKey != want {
			t.Errorf("Apply(%+v).ContactKey = %q, want %q", c, it.ContactKey, want)
		}
		if !it.Contact.IsZero() {
			t.Errorf("contact not cleared: %+v", it.Contact)
		}
	}
	f(schemas.Contact{Email: " Anna.Schmidt@Example.com\t", Phone: "+49 170 1234567", Name: "Anna"}, "k2:Nrhd3MdXGa3iDFf15zajSA")
	f(schemas.Contact{Phone: "+49 (170) 123-4567", Name: "Anna"}, "k2:dwX6ocbcJOBeUwVWXsvnVg")
	f(schemas.Contact{Email: "   ", Phone: "n/a", Name: "  Anna \t SCHMIDT "}, "k2:pjNthsQ6ff7sX1I_0H557A")
	f(schemas.Contact{}, "")
}

func TestSubjectKeysCoversEveryKey(t *testing.T) {
	p := newGolden(t)
	f := func(subject string, want ...string) {
		t.Helper()
		if got := p.SubjectKeys(subject); !slices.Equal(got, want) {
			t.Errorf("SubjectKeys(%q) = %q, want %q", subject, got, want)
		}
	}
	f("ANNA.SCHMIDT@example.com", "k2:Nrhd3MdXGa3iDFf15zajSA", "k1:svkDHz28DgSboydO8kAu7Q")
	f("+49 170 1234567", "k2:dwX6ocbcJOBeUwVWXsvnVg", p.SubjectKeys("+491701234567")[1])
	f("Anna  Schmidt", "k2:pjNthsQ6ff7sX1I_0H557A", p.SubjectKeys("anna schmidt")[1])
	f("   ")
	if got := p.Pseudonym("anna.schmidt@example.com"); got != "k2:Nrhd3MdXGa3iDFf15zajSA" {
		t.Errorf("Pseudonym = %q", got)
	}
}

// TestRotation: after rotating k1 out, new rows get k2 pseudonyms, and an
// erasure still finds the rows written under k1.
func TestRotation(t *testing.T) {
	old, err := New(Config{Key: KeyRef{ID: "k1", File: keyFile(t, previousKy)}})
	if err != nil {
		t.Fatal(err)
	}
	before := schemas.Interaction{Contact: schemas.Contact{Email: "anna.schmidt@example.com"}}
	old.Apply(&before)

	p := newGolden(t)
	after := schemas.Interaction{Contact: schemas.Contact{Email: "anna.schmidt@example.com"}}
	p.Apply(&after)
	if before.ContactKey == after.ContactKey || !strings.HasPrefix(after.ContactKey, "k2:") {
		t.Fatalf("rotation did not change the pseudonym: %q, %q", before.ContactKey, after.ContactKey)
	}
	keys := p.SubjectKeys("anna.schmidt@example.com")
	if !slices.Contains(keys, before.ContactKey) || !slices.Contains(keys, after.ContactKey) {
		t.Errorf("SubjectKeys %q misses %q or %q", keys, before.ContactKey, after.ContactKey)
	}
}

func TestAttributes(t *testing.T) {
	p := newGolden(t)
	f := func(source string, in, want map[string]string) {
		t.Helper()
		it := schemas.Interaction{Source: source, Attributes: in}
		p.Apply(&it)
		if !reflect.DeepEqual(it.Attributes, want) {
			t.Errorf("attributes %v, want %v", it.Attributes, want)
		}
	}
	// Free text is dropped, identifiers pseudonymised, unknown names dropped.
	f("hubspot", map[string]string{
		"campaign": "spring", "Subject": "Re: pricing", "body": "hi Anna", "customer_email": "Anna.Schmidt@example.com",
		"mobile": "+49 170 1234567", "favourite_colour": "blue", "UTM_Source": "linkedin",
	}, map[string]string{
		"campaign": "spring", "customer_email": "k2:Nrhd3MdXGa3iDFf15zajSA", "mobile": "k2:dwX6ocbcJOBeUwVWXsvnVg", "UTM_Source": "linkedin",
	})
	// Special categories need consent.
	f("zoom", map[string]string{"sentiment": "positive", "voice_stress": "0.7", "region": "emea"},
		map[string]string{"region": "emea"})
	f("zoom", map[string]string{"sentiment": "positive", "voice_stress": "0.7", "consent": "Granted"},
		map[string]string{"sentiment": "positive", "voice_stress": "0.7", "consent": "Granted"})
	f("zoom", map[string]string{"Face_Match": "0.9", "consent": "false"}, map[string]string{"consent": "false"})
	f("zoom", map[string]string{"emotion": "joy", "consent": "true"}, map[string]string{"emotion": "joy", "consent": "true"})
	// An empty identifier is removed rather than pseudonymised.
	f("x", map[string]string{"phone": "unknown"}, map[string]string{})
}

func TestAttributesPerSourceAllowList(t *testing.T) {
	p, err := New(Config{
		Key: KeyRef{File: keyFile(t, goldenKey)},
		Attributes: AttributeConfig{
			Allow:        map[string][]string{"*": {"campaign"}, "aircall": {"call_*"}},
			Pseudonymise: []string{"subject"},
			Drop:         []string{},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	it := schemas.Interaction{Source: "aircall", Attributes: map[string]string{"campaign": "c", "call_tag": "x", "subject": "Anna", "notes": "n"}}
	p.Apply(&it)
	want := map[string]string{"campaign": "c", "call_tag": "x", "subject": "k1:" + p.Pseudonym("anna")[3:]}
	if !reflect.DeepEqual(it.Attributes, want) {
		t.Errorf("aircall attributes %v, want %v", it.Attributes, want)
	}
	it = schemas.Interaction{Source: "zoom", Attributes: map[string]string{"campaign": "c", "call_tag": "x"}}
	p.Apply(&it)
	if !reflect.DeepEqual(it.Attributes, map[string]string{"campaign": "c"}) {
		t.Errorf("zoom kept %v", it.Attributes)
	}
}

// TestNoRawValueSurvives walks every string reachable from the interaction
// after Apply and looks for any raw personal value.
func TestNoRawValueSurvives(t *testing.T) {
	p := newGolden(t)
	raw := []string{"Anna.Schmidt@example.com", "anna.schmidt@example.com", "+49 170 1234567", "491701234567",
		"Anna Schmidt", "anna schmidt", "Pricing for Anna", "call me at 0170", "angry"}
	it := schemas.Interaction{
		EventID: "e1", OccurredAt: time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), Source: "hubspot",
		Type: schemas.TypeMessageInbound, RepID: "r1",
		Contact: schemas.Contact{Email: raw[0], Phone: raw[2], Name: raw[4]},
		Attributes: map[string]string{
			"subject": raw[6], "notes": raw[7], "email": raw[0], "phone": raw[2], "contact_name": raw[4],
			"emotion": raw[8], "random_field": raw[0], "campaign": "spring",
		},
	}
	p.Apply(&it)
	var walk func(path string, v reflect.Value)
	walk = func(path string, v reflect.Value) {
		switch v.Kind() {
		case reflect.String:
			for _, r := range raw {
				if strings.Contains(strings.ToLower(v.String()), strings.ToLower(r)) {
					t.Errorf("%s = %q still holds raw %q", path, v.String(), r)
				}
			}
		case reflect.Struct:
			for k := range v.NumField() {
				walk(path+"."+v.Type().Field(k).Name, v.Field(k))
			}
		case reflect.Map:
			for _, k := range v.MapKeys() {
				walk(path+"[key]", k)
				walk(path+"["+k.String()+"]", v.MapIndex(k))
			}
		}
	}
	walk("Interaction", reflect.ValueOf(it))
	if it.ContactKey == "" || len(it.Attributes) != 4 { // email, phone, contact_name pseudonymised; campaign kept
		t.Errorf("unexpected result: %+v", it)
	}
}

func TestConfigValidate(t *testing.T) {
	short := keyFile(t, "too-short")
	good := keyFile(t, goldenKey)
	dev := keyFile(t, devSecret)
	for name, tc := range map[string]struct {
		cfg  Config
		env  string
		want error
	}{
		"no key anywhere is refused":                {Config{}, "", ErrNoKey},
		"a key shorter than 32 bytes is refused":    {Config{Key: KeyRef{File: short}}, "", ErrKeyTooShort},
		"a short key in the env var is refused":     {Config{}, "short", ErrKeyTooShort},
		"the dev key pasted into a file is refused": {Config{Key: KeyRef{File: dev}}, "", ErrDevKey},
		"the dev key in the env var is refused":     {Config{}, devSecret, ErrDevKey},
		"file and env together are ambiguous":       {Config{Key: KeyRef{File: good, Env: "X"}}, "", ErrKeySource},
		"an unreadable key file is refused":         {Config{Key: KeyRef{File: "/nonexistent/key"}}, "", ErrReadKeyFile},
		"a key id with a colon is refused":          {Config{Key: KeyRef{ID: "k:1", File: good}}, "", ErrKeyID},
		"a previous key without id is refused":      {Config{Key: KeyRef{File: good}, PreviousKeys: []KeyRef{{File: good}}}, "", ErrKeyID},
		"a key id used twice is refused": {Config{Key: KeyRef{ID: "a", File: good},
			PreviousKeys: []KeyRef{{ID: "a", File: good}}}, "", ErrDuplicateKey},
		"a previous key without a secret is refused": {Config{Key: KeyRef{File: good},
			PreviousKeys: []KeyRef{{ID: "k0"}}}, "", ErrNoKey},
		"a pattern with an inner star is refused": {Config{Key: KeyRef{File: good},
			Attributes: AttributeConfig{Drop: []string{"a*b"}}}, "", ErrPattern},
		"a lone star pattern is refused": {Config{Key: KeyRef{File: good},
			Attributes: AttributeConfig{Allow: map[string][]string{"*": {"*"}}}}, "", ErrPattern},
		"an unknown default country is refused": {Config{Key: KeyRef{File: good}, DefaultCountry: "UK"}, "", ErrCountry},
		"a lower-case default country is taken": {Config{Key: KeyRef{File: good}, DefaultCountry: "gb"}, "", nil},
		"the env var key is accepted":           {Config{}, goldenKey, nil},
		"a key file is accepted":                {Config{Key: KeyRef{File: good}}, "", nil},
		"the dev key in code is taken":          {Config{Key: DevKey()}, "", nil},
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(DefaultKeyEnv, tc.env)
			err := tc.cfg.Validate()
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Validate() = %v, want %v", err, tc.want)
			}
			if _, nerr := New(tc.cfg); (nerr == nil) != (err == nil) {
				t.Errorf("New disagrees with Validate: %v vs %v", nerr, err)
			}
		})
	}
}

func TestDevKeyIsMarked(t *testing.T) {
	p, err := New(Config{Key: DevKey()})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Dev() || p.KeyID() != "dev" || !strings.HasPrefix(p.Pseudonym("a@b.c"), "dev:") {
		t.Errorf("dev key not recognisable: Dev=%v id=%q", p.Dev(), p.KeyID())
	}
}

func TestCloneMatches(t *testing.T) {
	p := newGolden(t)
	c := p.Clone()
	if a, b := p.Pseudonym("x@y.z"), c.Pseudonym("x@y.z"); a != b {
		t.Errorf("clone differs: %q vs %q", a, b)
	}
}

// Run and compare with:
//
//	go test ./pipeline/privacy -run '^$' -bench Apply -count=5 | tee new.txt && benchstat old.txt new.txt
func BenchmarkApply(b *testing.B) {
	p, err := New(Config{Key: DevKey()})
	if err != nil {
		b.Fatal(err)
	}
	attrs := map[string]string{}
	b.ReportAllocs()
	for b.Loop() {
		attrs["campaign"] = "spring-24"
		attrs["subject"] = "Pricing question"
		it := schemas.Interaction{Source: "linkedin", Contact: schemas.Contact{Email: "Anna.Schmidt@example.com", Name: "Anna Schmidt"}, Attributes: attrs}
		p.Apply(&it)
	}
}

// TestConsentReadBeforeItIsRemoved: consent is looked up lazily, yet a
// configuration that drops (or pseudonymises) the consent attribute itself
// still grants it, whatever order the map is walked in.
func TestConsentReadBeforeItIsRemoved(t *testing.T) {
	for _, attrs := range []AttributeConfig{
		{Drop: []string{"consent"}},
		{Pseudonymise: []string{"consent"}},
		{Allow: map[string][]string{"crm": {"region"}}},
	} {
		p, err := New(Config{Key: KeyRef{File: keyFile(t, goldenKey)}, Attributes: attrs})
		if err != nil {
			t.Fatal(err)
		}
		for range 50 {
			it := schemas.Interaction{Source: "zoom", Attributes: map[string]string{
				"consent": "yes", "sentiment": "positive", "a": "1", "b": "2", "c": "3", "d": "4", "e": "5", "f": "6", "g": "7",
			}}
			p.Apply(&it)
			if it.Attributes["sentiment"] != "positive" {
				t.Fatalf("%+v: consent lost, attributes %v", attrs, it.Attributes)
			}
			if v, ok := it.Attributes["consent"]; ok && v == "yes" && attrs.Allow == nil {
				t.Fatalf("%+v: consent attribute kept verbatim: %v", attrs, it.Attributes)
			}
		}
	}
}
