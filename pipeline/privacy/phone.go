package privacy

import (
	"errors"
	"hash/maphash"
	"strings"

	"github.com/nyaruka/phonenumbers"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/schemas"
)

// Option adds a dependency to a Pseudonymizer (New, With).
type Option func(*Pseudonymizer)

// WithOrg gives the pseudonymiser the org, whose team countries are the
// default region of national phone numbers whose contact has no country
// (see Apply). Without it only Contact.Country and Config.DefaultCountry
// count.
func WithOrg(x *schemas.Index) Option { return func(p *Pseudonymizer) { p.org = x } }

// WithRegisterer registers the pseudonymiser's metrics with reg. Several
// pseudonymisers may share one registry: they then share the counters.
func WithRegisterer(reg prometheus.Registerer) Option {
	return func(p *Pseudonymizer) {
		if reg == nil {
			return
		}
		if err := reg.Register(p.unparsed); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				if c, ok := are.ExistingCollector.(prometheus.Counter); ok {
					p.unparsed = c
					return
				}
			}
			panic("privacy: register metrics: " + err.Error())
		}
	}
}

func newUnparsedCounter() prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{
		Name: "salespulse_privacy_phone_unparsed_total",
		Help: "Phone numbers that could not be read as a full E.164 number (no country code and no known region, or too short or long) and were pseudonymised from their digits only, so they match only the same digits.",
	})
}

// region is the default region of i's national phone numbers: the
// contact's country, else its team's (i.TeamID, else the rep's team), else
// the configured default; "" when none is a region libphonenumber knows.
func (p *Pseudonymizer) region(i *schemas.Interaction) string {
	if r, ok := knownRegion(i.Contact.Country); ok {
		return r
	}
	if p.org != nil {
		team := i.TeamID
		if team == "" {
			team = p.org.TeamOf(i.RepID)
		}
		if t := p.org.Team(team); t != nil {
			if r, ok := knownRegion(t.Country); ok {
				return r
			}
		}
	}
	return p.country
}

// knownRegion upper-cases an ISO 3166-1 alpha-2 code and reports whether
// libphonenumber has metadata for it.
func knownRegion(c string) (string, bool) {
	if len(c) != 2 {
		return "", false
	}
	c = strings.ToUpper(c) // no allocation when already upper case
	return c, supportedRegions[c]
}

var supportedRegions = phonenumbers.GetSupportedRegions()

// Phone numbers are normalised to E.164 when they read as a full number
// ("+12015550123"), else, counted in salespulse_privacy_phone_unparsed_total,
// to their digits (normDigits). A number with a leading '+' or "00" (the
// international prefix of most countries) needs no region; any other is
// read as a national number of the region.

// maxCachedPhones bounds a Pseudonymizer's cache of phone pseudonyms; the
// cache is emptied when it is full.
const maxCachedPhones = 1 << 16

// phoneID identifies a (region, raw number) pair by two independent 64-bit
// hashes: with 128 bits two different inputs collide with a probability
// like two pseudonyms do, and the cache holds no raw number.
type phoneID struct{ a, b uint64 }

type phoneEntry struct {
	key      string // pseudonym of the normalised number, "" if it has no digit
	unparsed bool   // counted again on every hit
}

// phoneCache is a worker's memory of recent numbers. libphonenumber's
// parser costs about 10 µs a number the short path of appendE164 does not
// take (its extension and punctuation regular expressions), 30 times the
// HMAC; a hit also skips the HMAC and the pseudonym's allocation. The same
// lead's number comes back with every call and every CRM update, so most
// lookups hit.
type phoneCache struct {
	ha, hb  maphash.Hash
	entries map[phoneID]phoneEntry
}

func (c *phoneCache) init() {
	c.ha.SetSeed(maphash.MakeSeed())
	c.hb.SetSeed(maphash.MakeSeed())
	c.entries = make(map[phoneID]phoneEntry)
}

func (c *phoneCache) id(s, region string) phoneID {
	var id phoneID
	for _, h := range [2]*maphash.Hash{&c.ha, &c.hb} {
		h.Reset()
		h.WriteString(region)
		h.WriteByte(0)
		h.WriteString(s)
	}
	id.a, id.b = c.ha.Sum64(), c.hb.Sum64()
	return id
}

// phonePseudonym is the pseudonym of s normalised by normPhone in region,
// "" when s normalises to nothing, from the cache when s was seen lately.
func (p *Pseudonymizer) phonePseudonym(s, region string) string {
	id := p.phones.id(s, region)
	if e, ok := p.phones.entries[id]; ok {
		if e.unparsed {
			p.unparsed.Inc()
		}
		return e.key
	}
	var e phoneEntry
	norm := p.norm[:0]
	s = strings.TrimSpace(s)
	if s != "" {
		var ok bool
		if norm, ok = appendE164(norm, s, region); !ok {
			e.unparsed = true
			p.unparsed.Inc()
			norm = normDigits(norm, s)
		}
	}
	e.key = p.pseudonymOf(norm)
	if len(p.phones.entries) >= maxCachedPhones {
		clear(p.phones.entries)
	}
	p.phones.entries[id] = e
	return e.key
}
