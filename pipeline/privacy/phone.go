package privacy

import (
	"errors"
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

// normPhone appends s normalised for pseudonymisation: in E.164 when it
// reads as a full number ("+12015550123"), else, counted in
// salespulse_privacy_phone_unparsed_total, as its digits (normDigits). A
// number with a leading '+' or "00" (the international prefix of most
// countries) needs no region; any other is read as a national number of
// region. It appends nothing for blank s.
func (p *Pseudonymizer) normPhone(dst []byte, s, region string) []byte {
	s = strings.TrimSpace(s)
	if s == "" {
		return dst
	}
	if e, ok := e164(s, region); ok {
		return append(dst, e...)
	}
	p.unparsed.Inc()
	return normDigits(dst, s)
}

// e164 returns s in E.164 when libphonenumber parses it, in region for
// national numbers, into a number of a possible length for its country.
// Numbers possible only as local numbers (no area code) do not count: they
// do not identify one line.
func e164(s, region string) (string, bool) {
	if strings.HasPrefix(s, "00") {
		s = "+" + s[2:]
	}
	if region == "" && !strings.HasPrefix(s, "+") {
		return "", false
	}
	n, err := phonenumbers.Parse(s, region)
	if err != nil || phonenumbers.IsPossibleNumberWithReason(n) != phonenumbers.IS_POSSIBLE {
		return "", false
	}
	return phonenumbers.Format(n, phonenumbers.E164), true
}
