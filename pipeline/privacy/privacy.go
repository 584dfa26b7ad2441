// Package privacy pseudonymises interactions before anything stores them:
// the contact becomes a keyed HMAC pseudonym (ContactKey), raw contact data
// is cleared, and attributes are filtered to an allow-list, with personal
// identifiers pseudonymised, personal free text dropped and special-category
// data kept only with consent. docs/privacy.md is the operator's guide.
package privacy

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/schemas"
)

// PseudonymLen is the number of HMAC-SHA256 bytes kept in a pseudonym. With
// 128 bits, the chance that any two of n distinct subjects collide is about
// n²/2¹²⁹: below 1.5·10⁻²¹ for a billion subjects.
const PseudonymLen = 16

// Pseudonymizer applies a Config to interactions.
//
// A Pseudonymizer reuses its hash state and buffers, so it is not safe for
// concurrent use: give each worker its own with Clone. SubjectKeys and the
// accessors are safe to call concurrently with each other, not with Apply.
type Pseudonymizer struct {
	keys    []key // current first
	pol     *policy
	country string         // Config.DefaultCountry
	org     *schemas.Index // team countries; may be nil

	unparsed prometheus.Counter // shared by clones

	mac  hash.Hash // HMAC-SHA256 under keys[0], reset per pseudonym
	norm []byte    // normalised input
	sum  []byte    // HMAC output
	out  []byte    // rendered pseudonym
	low  []byte    // lower-cased attribute name

	cache  map[string]action // attribute name -> decision, at most maxCachedNames
	phones phoneCache
}

type policy struct {
	allowAll *matcher            // "*"
	allow    map[string]*matcher // per source
	pseudo   *matcher
	drop     *matcher
	special  *matcher
}

// New applies cfg's defaults, validates it, reads its keys and returns a
// Pseudonymizer with opts applied. Errors are those of Config.Validate.
func New(cfg Config, opts ...Option) (*Pseudonymizer, error) {
	cfg.SetDefaults()
	keys, err := cfg.load()
	if err != nil {
		return nil, err
	}
	a := cfg.Attributes
	pol := &policy{
		allowAll: newMatcher(a.Allow["*"]),
		allow:    map[string]*matcher{},
		pseudo:   newMatcher(a.Pseudonymise),
		drop:     newMatcher(a.Drop),
		special:  newMatcher(a.SpecialCategory),
	}
	for src, names := range a.Allow {
		if src != "*" {
			pol.allow[src] = newMatcher(names)
		}
	}
	p := &Pseudonymizer{keys: keys, pol: pol, country: cfg.DefaultCountry, unparsed: newUnparsedCounter()}
	for _, o := range opts {
		o(p)
	}
	p.init()
	return p, nil
}

func (p *Pseudonymizer) init() {
	p.mac = hmac.New(sha256.New, p.keys[0].secret)
	p.sum = make([]byte, 0, sha256.Size)
	p.out = make([]byte, 0, 64)
	p.cache = make(map[string]action)
	p.phones.init()
}

// Clone returns a Pseudonymizer with the same keys, policy and options and
// its own hash state and buffers, for another worker.
func (p *Pseudonymizer) Clone() *Pseudonymizer {
	c := &Pseudonymizer{keys: p.keys, pol: p.pol, country: p.country, org: p.org, unparsed: p.unparsed}
	c.init()
	return c
}

// With returns a clone of p with opts applied; p is unchanged. It lets the
// wiring add the org and registry to a Pseudonymizer built elsewhere.
func (p *Pseudonymizer) With(opts ...Option) *Pseudonymizer {
	c := p.Clone()
	for _, o := range opts {
		o(c)
	}
	return c
}

// KeyID is the id of the current key, the prefix of every new pseudonym.
func (p *Pseudonymizer) KeyID() string { return p.keys[0].id }

// Dev reports whether the current key is the public development key.
func (p *Pseudonymizer) Dev() bool { return string(p.keys[0].secret) == devSecret }

// Apply pseudonymises i in place. Each identity of the contact is
// normalised, then pseudonymised into its own key: Keys.Email from the
// e-mail trimmed and lower-cased, Keys.Phone and Keys.Mobile from the
// numbers in E.164 (national numbers read in the contact's country, else
// its team's, else Config.DefaultCountry; a number that cannot be read so
// falls back to its digits). ContactKey is the e-mail's key, else the
// phone's, else the mobile's, else the pseudonym of the normalised name.
// With an empty contact, ContactKey and Keys are left unchanged, so applying
// twice is harmless. Contact is cleared; attributes are filtered as
// configured (see AttributeConfig). Nothing raw from Contact or a removed
// attribute remains reachable from i.
func (p *Pseudonymizer) Apply(i *schemas.Interaction) {
	c := &i.Contact
	if !c.IsZero() {
		var k schemas.ContactKeys
		region, regionDone := "", false
		if c.Email != "" {
			k.Email = p.pseudonymOf(normEmail(p.norm[:0], c.Email))
		}
		if c.Phone != "" {
			region, regionDone = p.region(i), true
			k.Phone = p.phonePseudonym(c.Phone, region)
		}
		if c.Mobile != "" {
			if !regionDone {
				region = p.region(i)
			}
			k.Mobile = p.phonePseudonym(c.Mobile, region)
		}
		i.Keys = k
		switch {
		case k.Email != "":
			i.ContactKey = k.Email
		case k.Phone != "":
			i.ContactKey = k.Phone
		case k.Mobile != "":
			i.ContactKey = k.Mobile
		case c.Name != "":
			if key := p.pseudonymOf(normName(p.norm[:0], c.Name)); key != "" {
				i.ContactKey = key
			}
		}
	}
	if len(i.Attributes) > 0 {
		p.attributes(i)
	}
	*c = schemas.Contact{}
}

// pseudonymOf keeps norm as the scratch buffer and returns its pseudonym,
// or "" when norm is empty.
func (p *Pseudonymizer) pseudonymOf(norm []byte) string {
	if len(norm) == 0 {
		return ""
	}
	p.norm = norm
	return p.pseudonym(norm)
}

func (p *Pseudonymizer) attributes(i *schemas.Interaction) {
	pol := p.pol
	consent := false
	if v, ok := i.Attributes["consent"]; ok {
		consent = strings.EqualFold(v, "true") || strings.EqualFold(v, "granted") || strings.EqualFold(v, "yes")
	}
	var srcAllow *matcher
	for k, v := range i.Attributes {
		act, ok := p.cache[k]
		if !ok {
			act = pol.decide(p.lower(k))
			if len(p.cache) < maxCachedNames {
				// Cloned: k may share memory with the event's other
				// (personal) strings, which must not stay alive here.
				p.cache[strings.Clone(k)] = act
			}
		}
		switch act {
		case actKeep:
		case actDrop:
			delete(i.Attributes, k)
		case actPseudoEmail, actPseudoPhone, actPseudoName:
			var key string
			switch act {
			case actPseudoEmail:
				key = p.pseudonymOf(normEmail(p.norm[:0], v))
			case actPseudoPhone:
				key = p.phonePseudonym(v, p.region(i))
			default:
				key = p.pseudonymOf(normName(p.norm[:0], v))
			}
			if key == "" {
				delete(i.Attributes, k)
				continue
			}
			i.Attributes[k] = key
		case actSpecial:
			if !consent {
				delete(i.Attributes, k)
			}
		case actAllowIfSource:
			if srcAllow == nil {
				if srcAllow = pol.allow[i.Source]; srcAllow == nil {
					srcAllow = &matcher{}
				}
			}
			if !srcAllow.match(p.lower(k)) {
				delete(i.Attributes, k)
			}
		}
	}
}

// maxCachedNames bounds the per-Pseudonymizer cache of attribute decisions,
// so producers inventing names cannot grow it without limit.
const maxCachedNames = 4096

// action is what happens to an attribute, decided once per name.
type action uint8

const (
	actKeep action = iota
	actDrop
	actPseudoEmail
	actPseudoPhone
	actPseudoName
	actSpecial       // keep only with consent
	actAllowIfSource // keep only if the event's source allows the name
)

// decide applies the rule order documented on AttributeConfig to a
// lower-case name, up to the per-source allow-list.
func (pol *policy) decide(name string) action {
	switch {
	case pol.drop.match(name):
		return actDrop
	case pol.pseudo.match(name):
		switch {
		case strings.Contains(name, "email"):
			return actPseudoEmail
		case strings.Contains(name, "phone") || name == "mobile":
			return actPseudoPhone
		}
		return actPseudoName
	case pol.special.match(name):
		return actSpecial
	case pol.allowAll.match(name):
		return actKeep
	case len(pol.allow) > 0:
		return actAllowIfSource
	}
	return actDrop
}

// lower returns k lower-cased, without allocating when k is ASCII. The
// result is valid until the next call.
func (p *Pseudonymizer) lower(k string) string {
	for n := 0; n < len(k); n++ {
		if c := k[n]; c >= 'A' && c <= 'Z' || c >= utf8.RuneSelf {
			p.low = lowerASCIIOrUnicode(p.low[:0], k)
			return unsafeString(p.low)
		}
	}
	return k
}

func lowerASCIIOrUnicode(dst []byte, s string) []byte {
	for n := 0; n < len(s); n++ {
		if s[n] >= utf8.RuneSelf {
			return append(dst, strings.ToLower(s)...)
		}
	}
	for n := 0; n < len(s); n++ {
		c := s[n]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// pseudonym renders keyID ":" base64url(HMAC-SHA256(key, norm)[:16]).
func (p *Pseudonymizer) pseudonym(norm []byte) string {
	p.mac.Reset()
	p.mac.Write(norm)
	p.sum = p.mac.Sum(p.sum[:0])
	id := p.keys[0].id
	p.out = append(p.out[:0], id...)
	p.out = append(p.out, ':')
	p.out = base64.RawURLEncoding.AppendEncode(p.out, p.sum[:PseudonymLen])
	return string(p.out)
}

// Pseudonym is the current key's pseudonym of a subject (an e-mail address,
// phone number or name, normalised as in SubjectKeys; for a phone number the
// E.164 form when it has one), or "" when the subject normalises to nothing.
func (p *Pseudonymizer) Pseudonym(subject string) string {
	forms := p.subjectForms(subject)
	if len(forms) == 0 {
		return ""
	}
	return p.pseudonymOf(append(p.norm[:0], forms[0]...))
}

// SubjectKeys returns the pseudonyms of a data subject under every
// configured key, current first, for `salespulse privacy erase --subject`:
// the rows to delete are those whose contact_key, email_key, phone_key or
// mobile_key is in SubjectKeys(s). subject is classified by its content:
// containing '@' it is an e-mail address (trimmed, lower-cased, as Apply
// does); made only of digits, spaces and "+-()./" with at least three
// digits it is a phone number; otherwise a name. A phone number gets the
// keys of its E.164 form (with a '+' or "00" prefix, or national in
// Config.DefaultCountry) and of its digits-only form, which Apply uses for
// numbers it could not read: give numbers in international form to find
// both. It returns nil when the subject normalises to nothing. Safe for
// concurrent use.
func (p *Pseudonymizer) SubjectKeys(subject string) []string {
	forms := p.subjectForms(subject)
	if len(forms) == 0 {
		return nil
	}
	out := make([]string, 0, len(forms)*len(p.keys))
	var sum []byte
	for _, norm := range forms {
		for _, k := range p.keys {
			mac := hmac.New(sha256.New, k.secret)
			mac.Write(norm)
			sum = mac.Sum(sum[:0])
			out = append(out, k.id+":"+base64.RawURLEncoding.EncodeToString(sum[:PseudonymLen]))
		}
	}
	return out
}

// subjectForms returns the distinct normalised forms Apply may have
// pseudonymised subject from, the E.164 form of a phone number first.
func (p *Pseudonymizer) subjectForms(s string) [][]byte {
	var forms [][]byte
	add := func(norm []byte) {
		if len(norm) == 0 {
			return
		}
		for _, f := range forms {
			if bytes.Equal(f, norm) {
				return
			}
		}
		forms = append(forms, norm)
	}
	switch {
	case strings.Contains(s, "@"):
		add(normEmail(nil, s))
	case phoneShaped(s):
		if e, ok := e164(strings.TrimSpace(s), p.country); ok {
			add([]byte(e))
		}
		add(normDigits(nil, s))
	default:
		add(normName(nil, s))
	}
	return forms
}

func phoneShaped(s string) bool {
	digits := 0
	for _, c := range []byte(strings.TrimSpace(s)) {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == ' ' || c == '+' || c == '-' || c == '(' || c == ')' || c == '.' || c == '/':
		default:
			return false
		}
	}
	return digits >= 3
}

// normEmail appends the trimmed, lower-cased address.
func normEmail(dst []byte, s string) []byte {
	return lowerASCIIOrUnicode(dst, strings.TrimSpace(s))
}

// normDigits appends the digits of s, with a '+' first when s (trimmed)
// starts with one: "+49 (170) 123-4567" becomes "+491701234567". It appends
// nothing when s has no digit. It is the fallback for numbers that do not
// parse as E.164 (Pseudonymizer.phonePseudonym), and was the only phone
// normalisation before E.164, so such numbers keep their old keys.
func normDigits(dst []byte, s string) []byte {
	s = strings.TrimSpace(s)
	n := len(dst)
	if strings.HasPrefix(s, "+") {
		dst = append(dst, '+')
	}
	digits := false
	for k := 0; k < len(s); k++ {
		if c := s[k]; c >= '0' && c <= '9' {
			dst = append(dst, c)
			digits = true
		}
	}
	if !digits {
		return dst[:n]
	}
	return dst
}

// normName appends s trimmed, lower-cased, with every run of white space
// collapsed to one ASCII space: "  Anna\tSCHMIDT " becomes "anna schmidt".
func normName(dst []byte, s string) []byte {
	space := false
	start := len(dst)
	for _, r := range s {
		if unicode.IsSpace(r) {
			space = len(dst) > start
			continue
		}
		if space {
			dst = append(dst, ' ')
			space = false
		}
		if r < utf8.RuneSelf {
			c := byte(r)
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
		} else {
			dst = utf8.AppendRune(dst, unicode.ToLower(r))
		}
	}
	return dst
}
