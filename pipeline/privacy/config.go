package privacy

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
	"strings"
)

// DefaultKeyEnv is the environment variable holding the current key when the
// configuration names neither a file nor a variable.
const DefaultKeyEnv = "SALESPULSE_PRIVACY_KEY"

// DefaultKeyID is the id of the current key when the configuration names none.
const DefaultKeyID = "k1"

// MinKeyLen is the shortest key accepted: HMAC-SHA256 keys shorter than the
// hash output weaken it, and a short key invites dictionary guessing.
const MinKeyLen = 32

// Errors returned by Config.Validate and New, wrapped with the field path.
var (
	ErrNoKey         = errors.New("no key: the key file or environment variable is unset or empty")
	ErrKeyTooShort   = fmt.Errorf("key shorter than %d bytes", MinKeyLen)
	ErrKeySource     = errors.New("set file or env, not both")
	ErrKeyID         = errors.New("key id must be 1 to 16 characters of A-Z, a-z, 0-9, '_' or '-'")
	ErrDuplicateKey  = errors.New("key id used twice")
	ErrDevKey        = errors.New("the development key is public and may only be used by `salespulse dev`")
	ErrPattern       = errors.New("attribute pattern must be a name, optionally with a leading and/or trailing '*'")
	ErrReadKeyFile   = errors.New("cannot read key file")
	ErrAllowedSource = errors.New("allow-list source must be a source name or \"*\"")
	ErrCountry       = errors.New("must be an ISO 3166-1 alpha-2 region code that libphonenumber knows, e.g. US, DE, GB")
)

// Config is the pseudonymisation configuration (YAML section "privacy").
// Defaults are applied by SetDefaults, the only place that knows them.
type Config struct {
	// Key is the current key: every new pseudonym is made with it.
	// Default: id "k1", read from the environment variable
	// SALESPULSE_PRIVACY_KEY. There is deliberately no default key value.
	Key KeyRef `yaml:"key"`

	// PreviousKeys are keys rotated out, newest first. They make no new
	// pseudonyms; SubjectKeys includes their pseudonyms so an erasure also
	// finds rows written before the rotation. Default: none.
	PreviousKeys []KeyRef `yaml:"previous_keys"`

	// Attributes says which event attributes survive pseudonymisation.
	Attributes AttributeConfig `yaml:"attributes"`

	// DefaultCountry is the ISO 3166-1 alpha-2 region (e.g. "US", "DE";
	// lower case is upper-cased) in which a phone number without a country
	// code is read when neither the contact nor its team has a country
	// (schemas.Contact.Country, schemas.Team.Country). Default: none, so
	// such numbers are pseudonymised from their digits only and counted in
	// salespulse_privacy_phone_unparsed_total.
	DefaultCountry string `yaml:"default_country"`
}

// KeyRef names where one HMAC key is kept. The key is the file's content or
// the variable's value, used byte for byte after trimming surrounding white
// space (so a trailing newline does not matter); it must be at least 32
// bytes. Generate one with `openssl rand -base64 48`.
type KeyRef struct {
	// ID prefixes every pseudonym made with the key ("k1:…"), so rows tell
	// which key made them. 1–16 characters of [A-Za-z0-9_-]. Default for
	// the current key: "k1"; required for previous keys.
	ID string `yaml:"id"`
	// File is a path to a file holding the key (e.g. a mounted Kubernetes
	// secret). Mutually exclusive with Env.
	File string `yaml:"file"`
	// Env is the name of an environment variable holding the key.
	// Default for the current key, when File is also empty:
	// SALESPULSE_PRIVACY_KEY.
	Env string `yaml:"env"`

	dev bool // set only by DevKey
}

// devSecret is public (it is in this source file), so pseudonyms made with it
// protect nobody. It exists so `salespulse dev` works without setup.
const devSecret = "salespulse-development-key-NOT-SECRET-never-use-in-production"

// DevKey returns the well-known development key, id "dev", for `salespulse
// dev` and tests only. Its pseudonyms start with "dev:", so a production
// table holding any is easy to spot. The secret itself is rejected with
// ErrDevKey when it arrives through a file or environment variable: the
// development key can only be chosen in code, never by a configuration
// mistake.
func DevKey() KeyRef { return KeyRef{ID: "dev", dev: true} }

// AttributeConfig decides the fate of each event attribute. Names are
// matched case-insensitively; a pattern may start and/or end with '*'
// ("voice_*", "*_email", "*sentiment*"). Omit a list to get its default;
// give an empty list ([]) to have none. Rules apply in this order, the first
// match deciding:
//
//  1. Drop: personal free text, always removed.
//  2. Pseudonymise: personal identifiers, value replaced by its pseudonym.
//  3. SpecialCategory: kept verbatim only if the event carries consent
//     (attribute "consent" equal to "true", "granted" or "yes", any case),
//     removed otherwise.
//  4. Allow: kept verbatim.
//  5. Anything else is removed.
type AttributeConfig struct {
	// Allow maps a source name (or "*" for every source) to the attribute
	// names kept verbatim. Default: {"*": DefaultAllow} plus
	// DefaultAllowBySource. A map given in YAML replaces the default
	// entirely.
	Allow map[string][]string `yaml:"allow"`
	// Pseudonymise lists personal identifiers. Default: DefaultPseudonymise.
	Pseudonymise []string `yaml:"pseudonymise"`
	// Drop lists personal free text. Default: DefaultDrop.
	Drop []string `yaml:"drop"`
	// SpecialCategory lists GDPR Art. 9 data and inferences about a person's
	// emotions or body. Default: DefaultSpecialCategory.
	SpecialCategory []string `yaml:"special_category"`
}

// Default attribute lists; see AttributeConfig.
var (
	DefaultAllow = []string{
		"consent", "campaign", "utm_*", "lead_source", "product", "product_*", "plan", "region", "country",
		"industry", "segment", "priority", "outcome", "disposition", "call_result", "direction", "language",
		"meeting_type", "pipeline", "deal_type", "sequence", "sequence_step", "template_id", "thread_id",
		"vendor", "vendor_*", "object_type", "reason", "lost_reason", "forecast_category", "probability",
		// Non-personal identifiers of CRM records, kept so rows join: a
		// conversion to its opportunity, a quote line to its quote.
		"opportunity_id", "quote_id",
		// Market signals and account ownership (docs/signals.md): a
		// company's domain, name, the signal's kind, category and the
		// article's URL, none of them a person's.
		"signal_*", "account_domain",
	}
	// DefaultAllowBySource adds, per source, the vendor attributes its
	// decoder fills only with record ids, user ids of the organisation's
	// own staff and picklist values (docs/sources.md lists them). They are
	// kept by source, not for "*", because a canonical producer may name
	// anything hs_… or sf_…, free text included.
	DefaultAllowBySource = map[string][]string{
		"salesforce": {"sf_*"},
		"hubspot":    {"hs_*"},
	}
	DefaultPseudonymise = []string{
		"email", "*_email", "email_*", "phone", "*_phone", "phone_*", "mobile", "name", "first_name",
		"last_name", "full_name", "contact_name", "*_user_name", "linkedin_url", "profile_url", "handle",
	}
	DefaultDrop = []string{
		"subject", "body", "*_body", "notes", "note", "description", "comment", "comments", "message",
		"text", "transcript", "*_transcript", "summary", "address", "*_address", "recording_url", "*_recording*",
		"ip", "user_agent", "signature",
	}
	DefaultSpecialCategory = []string{
		"*emotion*", "*sentiment*", "*mood*", "biometric*", "voice_*", "face_*", "facial_*", "health*",
		"religion", "ethnicity", "political*", "sexual*", "trade_union*", "genetic*",
	}
)

// SetDefaults fills what the configuration left out with the defaults
// documented on the fields.
func (c *Config) SetDefaults() {
	if c.Key.ID == "" {
		c.Key.ID = DefaultKeyID
	}
	if c.Key.File == "" && c.Key.Env == "" && !c.Key.dev {
		c.Key.Env = DefaultKeyEnv
	}
	c.DefaultCountry = strings.ToUpper(strings.TrimSpace(c.DefaultCountry))
	a := &c.Attributes
	if a.Allow == nil {
		a.Allow = map[string][]string{"*": DefaultAllow}
		for src, names := range DefaultAllowBySource {
			a.Allow[src] = names
		}
	}
	if a.Pseudonymise == nil {
		a.Pseudonymise = DefaultPseudonymise
	}
	if a.Drop == nil {
		a.Drop = DefaultDrop
	}
	if a.SpecialCategory == nil {
		a.SpecialCategory = DefaultSpecialCategory
	}
}

// Validate checks c with its defaults applied (SetDefaults, on Validate's
// own copy: a caller that has not applied them gets the same answer),
// including that every key can be read and is long enough. Errors wrap the
// sentinels above and name the field's full path, e.g.
// "privacy.previous_keys[0].env: key shorter than 32 bytes".
func (c Config) Validate() error {
	c.SetDefaults()
	_, err := c.load()
	return err
}

// key is one loaded HMAC key.
type key struct {
	id     string
	secret []byte
}

// load validates c (SetDefaults applied) and reads its keys, current first.
func (c Config) load() ([]key, error) {
	refs := append([]KeyRef{c.Key}, c.PreviousKeys...)
	keys := make([]key, 0, len(refs))
	seen := map[string]bool{}
	for k, r := range refs {
		path := "privacy.key"
		if k > 0 {
			path = fmt.Sprintf("privacy.previous_keys[%d]", k-1)
		}
		if !validID(r.ID) {
			return nil, fmt.Errorf("%s.id %q: %w", path, r.ID, ErrKeyID)
		}
		if seen[r.ID] {
			return nil, fmt.Errorf("%s.id %q: %w", path, r.ID, ErrDuplicateKey)
		}
		seen[r.ID] = true
		secret, err := r.read(path)
		if err != nil {
			return nil, err
		}
		keys = append(keys, key{id: r.ID, secret: secret})
	}
	if c.DefaultCountry != "" {
		if _, ok := knownRegion(c.DefaultCountry); !ok {
			return nil, fmt.Errorf("privacy.default_country %q: %w", c.DefaultCountry, ErrCountry)
		}
	}
	a := c.Attributes
	for src, names := range a.Allow {
		if src == "" {
			return nil, fmt.Errorf("privacy.attributes.allow: %w", ErrAllowedSource)
		}
		if err := checkPatterns("privacy.attributes.allow."+src, names); err != nil {
			return nil, err
		}
	}
	for _, l := range []struct {
		path  string
		names []string
	}{
		{"privacy.attributes.pseudonymise", a.Pseudonymise}, {"privacy.attributes.drop", a.Drop},
		{"privacy.attributes.special_category", a.SpecialCategory},
	} {
		if err := checkPatterns(l.path, l.names); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

func (r KeyRef) read(path string) ([]byte, error) {
	if r.dev {
		return []byte(devSecret), nil
	}
	var raw []byte
	switch {
	case r.File != "" && r.Env != "":
		return nil, fmt.Errorf("%s: %w", path, ErrKeySource)
	case r.File != "":
		b, err := os.ReadFile(r.File)
		if err != nil {
			return nil, fmt.Errorf("%s.file: %w: %w", path, ErrReadKeyFile, err)
		}
		raw, path = b, path+".file"
	case r.Env != "":
		raw, path = []byte(os.Getenv(r.Env)), path+".env "+r.Env
	}
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0:
		return nil, fmt.Errorf("%s: %w", path, ErrNoKey)
	case len(raw) < MinKeyLen:
		return nil, fmt.Errorf("%s: %w (got %d)", path, ErrKeyTooShort, len(raw))
	case subtle.ConstantTimeCompare(raw, []byte(devSecret)) == 1:
		return nil, fmt.Errorf("%s: %w", path, ErrDevKey)
	}
	return raw, nil
}

func validID(id string) bool {
	if id == "" || len(id) > 16 {
		return false
	}
	for _, c := range []byte(id) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func checkPatterns(path string, names []string) error {
	for k, n := range names {
		core := strings.TrimSuffix(strings.TrimPrefix(n, "*"), "*")
		if core == "" || strings.Contains(core, "*") {
			return fmt.Errorf("%s[%d] %q: %w", path, k, n, ErrPattern)
		}
	}
	return nil
}
