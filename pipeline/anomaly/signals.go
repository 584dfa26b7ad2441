package anomaly

import (
	"encoding/binary"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/pipeline/anomaly/detect"
	"github.com/salespulse/salespulse/schemas"
)

// signals turns market signals (account.signal: an executive change, a
// funding round, a hiring surge, news) into a task for the account's
// owner (market_signal, info), at most one per account and kind per
// SignalsConfig.Cooldown (docs/signals.md).
//
// Each partition keeps the whole account directory, learnt from
// account.updated events (account id, owner rep, domain): the router
// broadcasts them to every leads partition, so a signal finds its account
// wherever it is keyed, and what a partition knows is a pure function of
// its own log. A signal matches the account whose domain is the signal's
// normalised domain (schemas.NormaliseDomain), else the account of its
// account_id. A signal that matches no account with an owner is counted
// and parked under its domain (else its account id) for SignalsConfig.Hold;
// an account.updated that brings that domain or id with an owner releases
// it. Everything is decided in the order of the partition's log and by
// event time, so a replay decides the same.
type signals struct {
	cfg      *Config
	outcomes *prometheus.CounterVec
	parked   prometheus.Gauge
	known    prometheus.Gauge
	// children looked up once
	matched, late, suppressed, unmatched, dropped, expired prometheus.Counter
}

// Outcomes of a signal (salespulse_anomaly_signals_total).
const (
	signalMatched    = "matched"      // a task for the owner
	signalLate       = "late_matched" // parked, then matched by a later account.updated: a task
	signalSuppressed = "suppressed"   // matched, inside the account and kind's cooldown
	signalUnmatched  = "unmatched"    // no account (with an owner) yet: parked
	signalDropped    = "dropped"      // parked, pushed out by MaxUnmatched newer ones
	signalExpired    = "expired"      // parked longer than Hold
)

const (
	kindAccount   = 'c' // account id: owner, domain, last task per kind
	kindUnmatched = 'u' // "d:"+domain or "i:"+account id: parked signals
)

func newSignals(cfg *Config, reg prometheus.Registerer) *signals {
	o := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "salespulse_anomaly_signals_total",
		Help: "Market signals the signal matcher consumed, by outcome (matched, late_matched, suppressed, unmatched, dropped, expired).",
	}, []string{"outcome"})
	p := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "salespulse_anomaly_unmatched_signals",
		Help: "Unmatched signals parked in the partition whose parked signals changed last (a sample, not a sum).",
	})
	a := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "salespulse_anomaly_signal_accounts",
		Help: "Accounts in the signal matcher's directory of the partition that changed it last (every leads partition holds all of them).",
	})
	if reg != nil {
		reg.MustRegister(o, p, a)
	}
	return &signals{cfg: cfg, outcomes: o, parked: p, known: a,
		matched: o.WithLabelValues(signalMatched), late: o.WithLabelValues(signalLate),
		suppressed: o.WithLabelValues(signalSuppressed), unmatched: o.WithLabelValues(signalUnmatched),
		dropped: o.WithLabelValues(signalDropped), expired: o.WithLabelValues(signalExpired)}
}

func (d *signals) Kinds() []byte { return []byte{kindAccount, kindUnmatched} }

func (d *signals) NewState(p *detect.Partition, _ detect.Queue) detect.State {
	return &signalsPart{signals: d, p: p, accounts: map[string]*account{}, domains: map[string]string{},
		waiting: map[string][]signal{}}
}

// account is one entry of the directory.
type account struct {
	owner  string    // rep id; "" until an account.updated names one
	domain string    // normalised; "" unknown
	at     time.Time // event time of the latest account.updated applied
	// last is the event time of the signal that last raised a task, per
	// kind (index in schemas.SignalKinds; zero: none).
	last [4]time.Time
}

// signal is a parked (unmatched) signal: what its task needs.
type signal struct {
	event   string
	at      time.Time
	kind    string
	source  string
	url     string
	domain  string
	account string
	company string
}

type signalsPart struct {
	*signals
	p        *detect.Partition
	accounts map[string]*account
	// domains maps a domain to the account that holds it: the one whose
	// account.updated is latest in event time (ties: the greater id).
	// Derived from accounts, never checkpointed.
	domains map[string]string
	waiting map[string][]signal
}

func kindIndex(k string) int { return slices.Index(schemas.SignalKinds(), k) }

func (s *signalsPart) Apply(i *schemas.Interaction) {
	if s.cfg.Signals.Disabled {
		return
	}
	switch i.Type {
	case schemas.TypeAccountUpdated:
		s.account(i)
	case schemas.TypeAccountSignal:
		s.signal(i)
	}
}

// newer reports whether (at, id) wins a domain over (bt, bid).
func newer(at time.Time, id string, bt time.Time, bid string) bool {
	if !at.Equal(bt) {
		return at.After(bt)
	}
	return id > bid
}

func (s *signalsPart) account(i *schemas.Interaction) {
	id := i.AccountID
	a := s.accounts[id]
	if a != nil && i.OccurredAt.Before(a.at) {
		return // an older change than the one applied: event time decides
	}
	s.p.Touch(kindAccount, id)
	if a == nil {
		a = &account{}
		s.accounts[strings.Clone(id)] = a
	}
	a.at = i.OccurredAt
	if i.RepID != "" {
		a.owner = strings.Clone(i.RepID)
	}
	if d := schemas.NormaliseDomain(i.Attributes[schemas.AttrAccountDomain]); d != "" && d != a.domain {
		old := a.domain
		a.domain = d
		if old != "" && s.domains[old] == id {
			s.reassign(old)
		}
	}
	if a.domain != "" {
		if cur, ok := s.domains[a.domain]; !ok || cur == id || newer(a.at, id, s.accounts[cur].at, cur) {
			s.domains[a.domain] = id
		}
	}
	s.known.Set(float64(len(s.accounts)))
	if a.owner == "" {
		return
	}
	// Release what waited for this account: by its domain (if the domain
	// is now this account's) and by its id.
	var keys []string
	if a.domain != "" && s.domains[a.domain] == id {
		keys = append(keys, "d:"+a.domain)
	}
	keys = append(keys, "i:"+id)
	for _, k := range keys {
		w := s.waiting[k]
		if len(w) == 0 {
			continue
		}
		s.p.Touch(kindUnmatched, k)
		delete(s.waiting, k)
		for _, sig := range w {
			by := "domain"
			if k[0] == 'i' {
				by = "account_id"
			}
			if s.task(&sig, id, a, by, later(sig.at, i.OccurredAt)) {
				s.late.Inc()
			}
		}
	}
	s.parked.Set(float64(s.parkedCount()))
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// reassign gives domain d to the latest remaining account holding it.
func (s *signalsPart) reassign(d string) {
	delete(s.domains, d)
	best := ""
	for id, a := range s.accounts {
		if a.domain == d && (best == "" || newer(a.at, id, s.accounts[best].at, best)) {
			best = id
		}
	}
	if best != "" {
		s.domains[d] = best
	}
}

func (s *signalsPart) signal(i *schemas.Interaction) {
	sig := signal{event: i.EventID, at: i.OccurredAt, kind: i.Attributes[schemas.AttrSignalKind], source: i.Source,
		url: i.Attributes[schemas.AttrSignalURL], domain: schemas.NormaliseDomain(i.Attributes[schemas.AttrSignalDomain]),
		account: i.AccountID, company: i.Attributes[schemas.AttrSignalCompany]}
	if kindIndex(sig.kind) < 0 {
		s.p.Skip("signal_kind")
		return
	}
	if id, by := s.match(&sig); id != "" {
		if s.task(&sig, id, s.accounts[id], by, sig.at) {
			s.matched.Inc()
		}
		return
	}
	s.unmatched.Inc()
	key := ""
	switch {
	case sig.domain != "":
		key = "d:" + sig.domain
	case sig.account != "":
		key = "i:" + sig.account
	default:
		return // a name only: kept in ClickHouse (unmatched_signals), nothing to match it by later
	}
	s.p.Touch(kindUnmatched, key)
	for _, v := range []*string{&sig.event, &sig.kind, &sig.source, &sig.url, &sig.domain, &sig.account, &sig.company} {
		*v = strings.Clone(*v) // kept past the batch
	}
	w := append(s.waiting[key], sig)
	// Event-time order, so the release (and the cooldown it applies)
	// does not depend on arrival order among the parked ones.
	slices.SortStableFunc(w, func(a, b signal) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return strings.Compare(a.event, b.event)
	})
	if n := len(w) - s.cfg.Signals.MaxUnmatched; n > 0 {
		s.dropped.Add(float64(n))
		w = slices.Delete(w, 0, n)
	}
	s.waiting[key] = w
	s.parked.Set(float64(s.parkedCount()))
}

// match returns the account of sig and how it was found ("domain",
// "account_id"), or "" when none with an owner is known.
func (s *signalsPart) match(sig *signal) (id, by string) {
	if sig.domain != "" {
		if id := s.domains[sig.domain]; id != "" && s.accounts[id].owner != "" {
			return id, "domain"
		}
	}
	if a := s.accounts[sig.account]; sig.account != "" && a != nil && a.owner != "" {
		return sig.account, "account_id"
	}
	return "", ""
}

// task raises the owner's task for sig on account id at event time at,
// unless the account's last task of the kind is within the cooldown
// (then it counts the signal as suppressed and returns false).
func (s *signalsPart) task(sig *signal, id string, a *account, by string, at time.Time) bool {
	k := kindIndex(sig.kind)
	if last := a.last[k]; !last.IsZero() {
		if d := sig.at.Sub(last); d < s.cfg.Signals.Cooldown && d > -s.cfg.Signals.Cooldown {
			s.suppressed.Inc()
			return false
		}
	}
	s.p.Touch(kindAccount, id)
	if sig.at.After(a.last[k]) {
		a.last[k] = sig.at
	}
	t := newAlert(RuleMarketSignal, id, sig.kind, sig.event)
	s.p.Who(t, a.owner, "")
	t.Alert.EventIDs = []string{sig.event}
	t.Alert.Values = map[string]string{
		"account_id": id, "kind": sig.kind, "source": sig.source, "matched_by": by,
		"occurred_at": ts(sig.at), "cooldown": dur(s.cfg.Signals.Cooldown),
	}
	for k, v := range map[string]string{"url": sig.url, "signal_domain": sig.domain, "account_domain": a.domain, "company": sig.company} {
		if v != "" {
			t.Alert.Values[k] = v
		}
	}
	what := strings.ReplaceAll(sig.kind, "_", " ")
	where := id
	if a.domain != "" {
		where += " (" + a.domain + ")"
	}
	t.Alert.Summary = "Market signal for account " + where + ": " + what + " reported by " + sig.source + ". Follow up with the account."
	s.p.Emit(t, schemas.AlertFiring, at)
	return true
}

func (s *signalsPart) parkedCount() int {
	n := 0
	for _, w := range s.waiting {
		n += len(w)
	}
	return n
}

// Forget drops parked signals older than Hold. cut is the watermark minus
// ForgetAfter; the hold is measured from the watermark too.
func (s *signalsPart) Forget(cut time.Time) {
	hold := cut.Add(s.cfg.ForgetAfter - s.cfg.Signals.Hold)
	for k, w := range s.waiting {
		n := 0
		for n < len(w) && w[n].at.Before(hold) {
			n++
		}
		if n == 0 {
			continue
		}
		s.p.Touch(kindUnmatched, k)
		s.expired.Add(float64(n))
		if n == len(w) {
			delete(s.waiting, k)
		} else {
			s.waiting[k] = slices.Delete(w, 0, n)
		}
	}
	s.parked.Set(float64(s.parkedCount()))
}

// Rebuild derives the domain index from the restored accounts.
func (s *signalsPart) Rebuild() {
	clear(s.domains)
	for id, a := range s.accounts {
		if a.domain == "" {
			continue
		}
		if cur, ok := s.domains[a.domain]; !ok || newer(a.at, id, s.accounts[cur].at, cur) {
			s.domains[a.domain] = id
		}
	}
	s.known.Set(float64(len(s.accounts)))
	s.parked.Set(float64(s.parkedCount()))
}

func (s *signalsPart) Encode(b []byte, k detect.Key) ([]byte, bool) {
	switch k.Kind {
	case kindAccount:
		a := s.accounts[k.ID]
		if a == nil {
			return nil, false
		}
		b = detect.AppendStrs(b, a.owner, a.domain)
		b = detect.AppendTime(b, a.at)
		for _, t := range a.last {
			b = detect.AppendTime(b, t)
		}
		return b, true
	case kindUnmatched:
		w := s.waiting[k.ID]
		if len(w) == 0 {
			return nil, false
		}
		b = binary.AppendUvarint(b, uint64(len(w)))
		for _, x := range w {
			b = detect.AppendStrs(b, x.event, x.kind, x.source, x.url, x.domain, x.account, x.company)
			b = detect.AppendTime(b, x.at)
		}
		return b, true
	}
	return nil, false
}

func (s *signalsPart) Decode(k detect.Key, r *detect.Reader) error {
	switch k.Kind {
	case kindAccount:
		a := &account{owner: r.Str(), domain: r.Str(), at: r.Time()}
		for x := range a.last {
			a.last[x] = r.Time()
		}
		if err := r.Done(k); err != nil {
			return err
		}
		s.accounts[k.ID] = a
	case kindUnmatched:
		n := r.Count()
		w := make([]signal, 0, n)
		for range n {
			x := signal{event: r.Str(), kind: r.Str(), source: r.Str(), url: r.Str(), domain: r.Str(), account: r.Str(), company: r.Str()}
			x.at = r.Time()
			w = append(w, x)
		}
		if err := r.Done(k); err != nil {
			return err
		}
		s.waiting[k.ID] = w
	}
	return nil
}
