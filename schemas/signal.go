package schemas

import "strings"

// Market signals (docs/signals.md) travel as interactions of type
// account.signal, account ownership as account.updated; what is not a
// canonical field rides in these attributes (allow-listed by the privacy
// stage's defaults).
const (
	// AttrSignalKind is the signal's kind: one of SignalKinds.
	AttrSignalKind = "signal_kind"
	// AttrSignalDomain is the company's web domain as the provider sent
	// it, normalised with NormaliseDomain.
	AttrSignalDomain = "signal_domain"
	// AttrSignalCompany is the company's name as the provider sent it.
	AttrSignalCompany = "signal_company"
	// AttrSignalURL is where the signal can be read (article, filing).
	AttrSignalURL = "signal_url"
	// AttrSignalCategory is the provider's own category, verbatim.
	AttrSignalCategory = "signal_category"
	// AttrAccountDomain is an account's web domain on account.updated,
	// normalised with NormaliseDomain.
	AttrAccountDomain = "account_domain"
)

// The signal kinds.
const (
	SignalExecutiveChange = "executive_change"
	SignalFundingRound    = "funding_round"
	SignalHiringSurge     = "hiring_surge"
	SignalNews            = "news"
)

// SignalKinds lists every signal kind.
func SignalKinds() []string {
	return []string{SignalExecutiveChange, SignalFundingRound, SignalHiringSurge, SignalNews}
}

// ValidSignalKind reports whether k is one of SignalKinds.
func ValidSignalKind(k string) bool {
	switch k {
	case SignalExecutiveChange, SignalFundingRound, SignalHiringSurge, SignalNews:
		return true
	}
	return false
}

// NormaliseDomain reduces a web address to the host that identifies a
// company: lower case, without scheme, user info, port, path, query,
// fragment, trailing dot and one leading "www.". "https://WWW.Acme.com/about"
// and "acme.com." are both "acme.com". It returns "" when nothing
// host-like is left (no dot, spaces, or characters a host cannot hold).
//
// It does not reduce a host to its registrable domain ("eu.acme.com" stays
// "eu.acme.com"): that needs the public suffix list ("acme.co.uk" is
// registrable, "shop.acme.com" is not), and a subsidiary on a subdomain is
// often a different account. Internationalised names are compared as sent
// (send punycode or Unicode consistently).
func NormaliseDomain(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	} else if strings.HasPrefix(s, "//") {
		s = s[2:]
	}
	if i := strings.IndexAny(s, "/?#"); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		s = s[i+1:]
	}
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimSuffix(strings.ToLower(s), ".")
	s = strings.TrimPrefix(s, "www.")
	if !strings.Contains(s, ".") || strings.HasPrefix(s, ".") || strings.Contains(s, "..") {
		return ""
	}
	for _, r := range s {
		if !(r == '.' || r == '-' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 0x7f) {
			return ""
		}
	}
	return s
}
