package privacy

import "strings"

// matcher matches lower-case attribute names against a list of patterns.
type matcher struct {
	exact                    map[string]struct{}
	prefix, suffix, contains []string
}

func newMatcher(patterns ...[]string) *matcher {
	m := &matcher{exact: map[string]struct{}{}}
	for _, list := range patterns {
		for _, p := range list {
			p = strings.ToLower(p)
			lead, trail := strings.HasPrefix(p, "*"), strings.HasSuffix(p, "*") && len(p) > 1
			core := strings.TrimSuffix(strings.TrimPrefix(p, "*"), "*")
			switch {
			case lead && trail:
				m.contains = append(m.contains, core)
			case lead:
				m.suffix = append(m.suffix, core)
			case trail:
				m.prefix = append(m.prefix, core)
			default:
				m.exact[core] = struct{}{}
			}
		}
	}
	return m
}

// match reports whether the lower-case name matches.
func (m *matcher) match(name string) bool {
	if m == nil {
		return false
	}
	if _, ok := m.exact[name]; ok {
		return true
	}
	for _, p := range m.prefix {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	for _, s := range m.suffix {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	for _, c := range m.contains {
		if strings.Contains(name, c) {
			return true
		}
	}
	return false
}
