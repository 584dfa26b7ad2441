package gen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/salespulse/salespulse/schemas"
)

// Opportunity stages, in pipeline order.
const (
	stProspecting = iota
	stQualification
	stDiscovery
	stProposal
	stNegotiation
)

var stageNames = [...]string{"prospecting", "qualification", "discovery", "proposal", "negotiation"}

// Stage values of closing events.
const (
	StageClosedWon  = "closed_won"
	StageClosedLost = "closed_lost"
)

const (
	accountsPerRep  = 48 // a rep's territory
	contactsPerAcct = 3
	ringSize        = 16 // recently answered leads a rep follows up on
	oppsPerRep      = 8  // open opportunities a rep works at a time
	day             = 24 * time.Hour
)

// Heap item kinds: what happens when the item comes due.
const (
	kindTick            = iota // a rep's next own action
	kindResponse               // a rep answers a lead
	kindApprovalRequest        // a rep asks the manager to approve a discount
	kindApprovalDecide         // the manager decides
	kindForecast               // a rep or team submits a forecast (forecast.go)
	kindAccount                // an account's owner and domain (signals.go)
	kindSignal                 // a market signal (signals.go)
)

// item is one scheduled event. Items are ordered by (at, seq); seq is the
// push order, which makes ties deterministic.
type item struct {
	at    int64 // unix milliseconds
	seq   uint64
	day   int64 // a work-day index no later than at's day: where searches for working hours start
	t0    int64 // trigger time (inbound touch, approval request), unix ms
	ref   string
	disc  float64
	list  float64
	rep   int32
	acct  int32
	kind  uint8
	ch    schemas.Channel
	first bool   // the lead's first answer: afterwards the rep follows up on it
	lead  uint64 // the lead's number (kindResponse)
}

// leadRef is a lead: its id, account and number (which derives its
// person, see leadContact).
type leadRef struct {
	id   string
	acct int32
	num  uint64
}

type opp struct {
	acct  int32
	stage uint8
	list  float64
	disc  float64
	// meets are the event times (unix ms) of the last meetings held on
	// the opportunity, newest at meets[nMeets-1]: engagement that moves
	// its chance to close won (winProbability).
	meets  [4]int64
	nMeets int
}

// meet records a meeting held on o at t.
func (o *opp) meet(t int64) {
	if o.nMeets == len(o.meets) {
		copy(o.meets[:], o.meets[1:])
		o.nMeets--
	}
	o.meets[o.nMeets] = t
	o.nMeets++
}

// winProbability is the chance that o closes won at t: the configured
// win rate (a third of it before the proposal stage), moved in log-odds
// by engagement and price, so that deal scores have something to learn
// (docs/scores.md, "The generator's deals"): +0.5 per meeting held on it
// in the 30 days before the close (at most 3), −0.8 when none was, and
// −0.06 per discount point above 10 (a deal bought with a deep discount
// is one the buyer is not sold on).
func (g *Generator) winProbability(o *opp, t int64) float64 {
	p := g.cfg.WinRate
	if o.stage < stProposal {
		p /= 3
	}
	if p <= 0 || p >= 1 {
		return p
	}
	recent := 0
	for _, m := range o.meets[:o.nMeets] {
		if t-m < int64(30*day/time.Millisecond) {
			recent++
		}
	}
	s := math.Log(p/(1-p)) + 0.5*float64(min(recent, 3))
	if recent == 0 {
		s -= 0.8
	}
	s -= 0.06 * math.Max(0, o.disc-10)
	return 1 / (1 + math.Exp(-s))
}

type repState struct {
	id, team, manager string
	site              *siteState
	role              int // roleSDR or roleAE
	pace              float64
	wk                int64 // working-time cursor: ms of work since the start of work day 0
	day               int64 // work-day index of wk
	acct0             int32 // first account of the territory
	ring              [ringSize]leadRef
	ringN             int
	ringNext          int
	opps              [oppsPerRep]opp
	// Closed won so far, the run rate forecasts project (forecast.go).
	fcWon float64
}

const (
	roleSDR = iota
	roleAE
)

// roleParams are the per-tick probabilities solved so that the emitted
// events, follow-ups included, match the configured channel mix and daily
// volume.
type roleParams struct {
	channelCum  [5]float64 // email, phone, meeting, social, crm
	crmCum      [4]float64 // lead.created, stage change, quote, close
	ticksPerDay float64
}

type account struct {
	id     string
	domain string
}

// contact is a person as the systems know them. Each system writes it its
// own way, as real data does: the CRM keeps the e-mail as typed and the
// number in the country's national format; mail and meeting systems show
// the address lower-cased, telephony the number in E.164.
type contact struct {
	name     string
	email    string // lower-case
	crmEmail string // as typed into the CRM: "Jane.Doe@Northworks-12.example.com"
	phone    number
	mobile   number // e164 "" when the contact has none
	country  string // ISO 3166-1 alpha-2: the country of phone and mobile
}

// crm is the contact as its CRM record holds it: the identity a
// lead.created or lead.updated teaches.
func (c *contact) crm() schemas.Contact {
	return schemas.Contact{Email: c.crmEmail, Phone: c.phone.national, Mobile: c.mobile.national, Name: c.name, Country: c.country}
}

// EndlessUntil is where an endless run (Days == 0) ends after all.
var EndlessUntil = time.Date(2099, 12, 1, 0, 0, 0, 0, time.UTC)

// Generator produces the interaction stream of one synthetic org in
// event-time order. It is not safe for concurrent use.
type Generator struct {
	cfg      Config
	org      *schemas.Org
	rng      *rand.Rand
	sites    []siteState
	reps     []repState
	roles    [2]roleParams
	accounts []account
	contacts []contact

	heap    []item
	pushSeq uint64

	seq                  uint64 // events emitted
	leadSeq, approvalSeq uint64
	idPrefix             string // "gen-<seed>-"
	leadPrefix           string // "lead-<seed>-"
	apprPrefix           string // "apr-<seed>-"
	idBuf, keyBuf        []byte
	// reserved counts, per country, the numbers of account contacts:
	// leads take the numbers after them.
	reserved map[string]int
	// last describes the event Next returned last, for the vendor
	// encoder: who the person is beyond what the interaction shows.
	last lastEvent

	fc forecaster

	stats stats
	sig   signalState // market signals (signals.go)
}

// lastEvent is what the vendor encoder learns about the last event besides
// the interaction itself.
type lastEvent struct {
	// newLead: the event is an inbound touch that makes a new lead (in
	// vendor format the rep also creates the lead in the CRM).
	newLead bool
	// acctContact is the account contact (an existing customer, not a
	// lead) a touch went to, -1 for none.
	acctContact int32
	// person is the CRM copy of the lead (newLead) or account contact.
	person schemas.Contact
}

// New validates cfg and returns a generator positioned before the first
// event.
func New(cfg Config) (*Generator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new generator: %w", err)
	}
	g := &Generator{
		cfg:        cfg,
		org:        NewOrg(cfg),
		rng:        rand.New(rand.NewPCG(cfg.Seed, 0x6576656e7473)), // "events"
		idPrefix:   "gen-" + strconv.FormatUint(cfg.Seed, 10) + "-",
		leadPrefix: "lead-" + strconv.FormatUint(cfg.Seed, 10) + "-",
		apprPrefix: "apr-" + strconv.FormatUint(cfg.Seed, 10) + "-",
	}
	g.stats.init(cfg.TruthLimit)
	g.roles[roleSDR] = solveRole(&cfg, roleSDR)
	g.roles[roleAE] = solveRole(&cfg, roleAE)

	y, m, d := cfg.Start.Date()
	workDays := make(map[time.Weekday]bool, len(cfg.WorkDays))
	for _, w := range cfg.WorkDays {
		workDays[weekdays[strings.ToLower(w)]] = true
	}
	g.sites = make([]siteState, len(cfg.Sites))
	for k, s := range cfg.Sites {
		loc, err := time.LoadLocation(s.TimeZone)
		if err != nil {
			return nil, fmt.Errorf("new generator: load time zone %q: %w", s.TimeZone, err)
		}
		open, _ := parseClock(s.Open)
		closing, _ := parseClock(s.Close)
		st := &g.sites[k]
		*st = siteState{loc: loc, y: y, m: m, d: d, openMin: open, dayLen: int64(closing-open) * 60000, currency: s.Currency, country: s.Country}
		if st.country == "" {
			st.country = countryOfZone(s.TimeZone)
		}
		for off := 0; off < 7; off++ {
			if workDays[time.Date(y, m, d+off, 12, 0, 0, 0, loc).Weekday()] {
				st.wdOff = append(st.wdOff, off)
			}
		}
		if cfg.Days > 0 {
			st.end = time.Date(y, m, d+cfg.Days, 0, 0, 0, 0, loc).UnixMilli()
		} else {
			// Endless still stops short of 2100, where the canonical
			// contract ends (schemas.Validate rejects later times): at
			// full speed the default org gets there after ~85M events;
			// more reps put more events into each day.
			st.end = EndlessUntil.UnixMilli()
		}
	}

	// Territories: each seller owns accountsPerRep accounts with
	// contactsPerAcct contacts each, precomputed so events share strings
	// instead of formatting them per event.
	crng := rand.New(rand.NewPCG(cfg.Seed, 0x636f6e74616374)) // "contact"
	g.reserved = map[string]int{}
	teamSite := map[string]*siteState{}
	for k := range g.org.Teams {
		teamSite[g.org.Teams[k].ID] = &g.sites[k%len(g.sites)]
	}
	for k := range g.org.Reps {
		rp := &g.org.Reps[k]
		if rp.Role == RoleManager {
			continue
		}
		rs := repState{
			id: rp.ID, team: rp.TeamID, site: teamSite[rp.TeamID], role: roleAE,
			pace: 0.9 + 0.2*g.rng.Float64(), acct0: int32(len(g.accounts)),
		}
		if rp.Role == RoleSDR {
			rs.role = roleSDR
		}
		for _, t := range g.org.Teams {
			if t.ID == rp.TeamID {
				rs.manager = t.ManagerID
			}
		}
		for a := 0; a < accountsPerRep; a++ {
			n := len(g.accounts)
			g.accounts = append(g.accounts, account{
				id:     fmt.Sprintf("acc-%06d", n+1),
				domain: fmt.Sprintf("%s%s-%d.example.com", companyWords[crng.IntN(len(companyWords))], companySuffixes[crng.IntN(len(companySuffixes))], n+1),
			})
			for c := 0; c < contactsPerAcct; c++ {
				first, last := firstNames[crng.IntN(len(firstNames))], lastNames[crng.IntN(len(lastNames))]
				country := rs.site.country
				plan := phonePlans[country]
				ct := contact{
					name:     first + " " + last,
					email:    strings.ToLower(first+"."+last) + "@" + g.accounts[n].domain,
					crmEmail: first + "." + last + "@" + capitalise(g.accounts[n].domain),
					phone:    plan.landline(g.reserved[country], 0),
					country:  country,
				}
				g.reserved[country]++
				g.contacts = append(g.contacts, ct)
			}
		}
		for o := range rs.opps {
			g.resetOpp(&rs, &rs.opps[o])
		}
		g.reps = append(g.reps, rs)
	}
	for k := range g.reps {
		g.scheduleTick(int32(k))
	}
	g.initForecasts()
	g.startSignals()
	return g, nil
}

var companyWords = [...]string{"north", "blue", "silver", "green", "iron", "bright", "cedar", "lake", "summit", "harbor", "maple", "river", "stone", "sun", "cloud", "pine"}
var companySuffixes = [...]string{"works", "labs", "logistics", "systems", "foods", "motors", "health", "energy", "retail", "media", "tools", "freight"}

// capitalise upper-cases the first letter of s, as people type company
// domains into a CRM.
func capitalise(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

// leadContact is the person behind lead num of rep r at account acct: a
// new person for every lead (no lead shares an e-mail address with another
// lead or with an account contact, and numbers repeat only after the
// country's reserved range is used up), derived from the lead number so
// nothing is stored per lead.
func (g *Generator) leadContact(num uint64, r *repState, acct int32) contact {
	h := splitmix(g.cfg.Seed ^ num*0x9e3779b97f4a7c15)
	first, last := firstNames[h%uint64(len(firstNames))], lastNames[(h>>16)%uint64(len(lastNames))]
	n := strconv.FormatUint(num, 10)
	domain := g.accounts[acct].domain
	country := r.site.country
	plan := phonePlans[country]
	c := contact{
		name:     first + " " + last,
		email:    strings.ToLower(first+"."+last) + n + "@" + domain,
		crmEmail: first + "." + last + n + "@" + capitalise(domain),
		phone:    plan.landline(g.reserved[country]+int(num), g.reserved[country]),
		country:  country,
	}
	if (h>>32)%4 == 0 {
		c.mobile, _ = plan.mobile(int(num), g.reserved[country])
	}
	return c
}

// splitmix is SplitMix64's finaliser: a well-mixed hash of x.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Org returns the organisation the stream belongs to (the same value NewOrg
// returns for the config). Callers must not modify it.
func (g *Generator) Org() *schemas.Org { return g.org }

// Done reports whether the stream is over: the next Next returns ok false.
func (g *Generator) Done() bool { return len(g.heap) == 0 }

// Config returns the generator's configuration.
func (g *Generator) Config() Config { return g.cfg }

// Next fills i (after resetting it) with the next interaction in event-time
// order and returns its partition key: the lead id when the event has one
// (so a lead's trigger and answer land on one partition), else the account
// id, else the rep id. The key is only valid until the next call to Next.
// ok is false once the configured days are done; with Days == 0 only at
// EndlessUntil.
//
// The strings put into i are immutable and may be kept; i's Attributes map
// is reused when present.
func (g *Generator) Next(i *schemas.Interaction) (key []byte, ok bool) {
	if len(g.heap) == 0 {
		return nil, false
	}
	it := g.pop()
	i.Reset()
	g.last = lastEvent{acctContact: -1}
	i.OccurredAt = time.UnixMilli(it.at).UTC()
	i.Source = g.cfg.Source
	if it.kind == kindForecast {
		return g.forecast(&it, i), true
	}
	r := &g.reps[it.rep]
	i.RepID = r.id
	i.TeamID = r.team
	switch it.kind {
	case kindTick:
		g.tick(it.rep, &it, i)
	case kindResponse:
		g.respond(r, &it, i)
	case kindApprovalRequest:
		g.requestApproval(it.rep, &it, i)
	case kindApprovalDecide:
		g.decideApproval(r, &it, i)
	case kindAccount:
		g.accountUpdated(&it, i)
	case kindSignal:
		g.signal(&it, i)
	}

	g.seq++
	g.idBuf = strconv.AppendUint(append(g.idBuf[:0], g.idPrefix...), g.seq, 10)
	i.EventID = string(g.idBuf)
	g.stats.events++
	g.stats.byType[i.Type]++
	g.stats.last = it.at
	if i.Type == schemas.TypeQuoteCreated && i.DiscountPct >= g.cfg.Quotes.PlantedMinPct {
		g.stats.beyondAuthority.add(i.EventID)
	}

	switch {
	case i.Type == schemas.TypeAccountSignal:
		// A provider knows the company, not the CRM's account.
		g.keyBuf = append(g.keyBuf[:0], i.Attributes[schemas.AttrSignalDomain]...)
	case i.LeadID != "":
		g.keyBuf = append(g.keyBuf[:0], i.LeadID...)
	case i.AccountID != "":
		g.keyBuf = append(g.keyBuf[:0], i.AccountID...)
	default:
		g.keyBuf = append(g.keyBuf[:0], i.RepID...)
	}
	return g.keyBuf, true
}

// tick is a rep's own action: a touch on some channel or a CRM action.
func (g *Generator) tick(rep int32, it *item, i *schemas.Interaction) {
	r := &g.reps[rep]
	rp := &g.roles[r.role]
	u := g.rng.Float64()
	switch {
	case u < rp.channelCum[0]:
		g.touch(rep, it, i, schemas.ChannelEmail)
	case u < rp.channelCum[1]:
		g.touch(rep, it, i, schemas.ChannelPhone)
	case u < rp.channelCum[2]:
		g.meeting(r, i)
	case u < rp.channelCum[3]:
		g.touch(rep, it, i, schemas.ChannelSocial)
	default:
		g.crm(rep, it, i)
	}
	g.scheduleTick(rep)
}

func (g *Generator) touch(rep int32, it *item, i *schemas.Interaction, ch schemas.Channel) {
	r := &g.reps[rep]
	i.Channel = ch
	if g.rng.Float64() < g.cfg.InboundShare {
		// A prospect reaches in: half of these are new leads, the rest
		// leads the rep already talks to. Each needs an answer.
		switch ch {
		case schemas.ChannelEmail:
			i.Type = schemas.TypeMessageInbound
		case schemas.ChannelPhone:
			i.Type = schemas.TypeCallInbound
			// The rep missed the call: a short ring or voicemail, and a
			// call back later is the answer.
			i.Has |= schemas.HasDuration
			i.DurationS = float64(g.rng.IntN(46))
		default:
			i.Type = schemas.TypeSocialInbound
		}
		var ref leadRef
		isNew := r.ringN == 0 || g.rng.Float64() < 0.5
		if isNew {
			ref = g.newLead(r)
		} else {
			ref = r.ring[g.rng.IntN(r.ringN)]
		}
		c := g.setLead(i, r, ref, ch)
		if isNew {
			g.last.newLead, g.last.person = true, c.crm()
		}
		if isNew && g.rng.Float64() < g.cfg.Response.NeverAnswered {
			g.stats.neverAnswered.add(ref.id)
			return
		}
		g.scheduleResponse(rep, it, ref, ch, isNew)
		return
	}
	switch ch {
	case schemas.ChannelEmail:
		i.Type = schemas.TypeMessageOutbound
	case schemas.ChannelPhone:
		i.Type = schemas.TypeCallOutbound
		g.callDuration(i)
	default:
		i.Type = schemas.TypeSocialOutbound
	}
	switch u := g.rng.Float64(); {
	case u < 0.45 && r.ringN > 0: // follow-up on a lead
		g.setLead(i, r, r.ring[g.rng.IntN(r.ringN)], ch)
	case u < 0.9: // a contact at one of the rep's accounts
		a := r.acct0 + int32(g.rng.IntN(accountsPerRep))
		i.AccountID = g.accounts[a].id
		g.setContact(i, a*contactsPerAcct+int32(g.rng.IntN(contactsPerAcct)), ch)
	default: // cold prospecting: a person at no known account
		g.setContact(i, int32(g.rng.IntN(len(g.contacts))), ch)
	}
}

func (g *Generator) callDuration(i *schemas.Interaction) {
	i.Has |= schemas.HasDuration
	if i.Attributes == nil {
		i.Attributes = make(map[string]string, 1)
	}
	if g.rng.Float64() < 0.35 {
		i.DurationS = float64(g.rng.IntN(31))
		i.Attributes["outcome"] = "no_answer"
		return
	}
	i.DurationS = math.Round(math.Min(3600, 240*math.Exp(0.8*g.rng.NormFloat64())))
	i.Attributes["outcome"] = "connected"
}

func (g *Generator) meeting(r *repState, i *schemas.Interaction) {
	i.Type = schemas.TypeMeetingHeld
	i.Channel = schemas.ChannelMeeting
	i.Has |= schemas.HasDuration
	i.DurationS = float64([...]int{1800, 1800, 2700, 3600}[g.rng.IntN(4)] + g.rng.IntN(301) - 120)
	if i.Attributes == nil {
		i.Attributes = make(map[string]string, 1)
	}
	i.Attributes["platform"] = "zoom"
	if r.ringN > 0 && g.rng.Float64() < 0.3 {
		g.setLead(i, r, r.ring[g.rng.IntN(r.ringN)], schemas.ChannelMeeting)
		return
	}
	o := &r.opps[g.rng.IntN(oppsPerRep)]
	o.meet(i.OccurredAt.UnixMilli())
	a := o.acct
	i.AccountID = g.accounts[a].id
	g.setContact(i, a*contactsPerAcct+int32(g.rng.IntN(contactsPerAcct)), schemas.ChannelMeeting)
}

func (g *Generator) crm(rep int32, it *item, i *schemas.Interaction) {
	r := &g.reps[rep]
	rp := &g.roles[r.role]
	i.Channel = schemas.ChannelCRM
	u := g.rng.Float64()
	switch {
	case u < rp.crmCum[0]:
		i.Type = schemas.TypeLeadCreated
		ref := g.newLead(r)
		i.LeadID = ref.id
		i.AccountID = g.accounts[ref.acct].id
		c := g.leadContact(ref.num, r, ref.acct)
		i.Contact = c.crm()
		if g.rng.Float64() < g.cfg.Response.NeverAnswered {
			g.stats.neverAnswered.add(ref.id)
			return
		}
		ch := schemas.ChannelEmail
		if g.rng.Float64() < 0.3 {
			ch = schemas.ChannelPhone
		}
		g.scheduleResponse(rep, it, ref, ch, true)
	case u < rp.crmCum[1]:
		i.Type = schemas.TypeOpportunityStageChanged
		o := &r.opps[g.rng.IntN(oppsPerRep)]
		i.AccountID = g.accounts[o.acct].id
		if r.role == roleSDR {
			// SDRs qualify, then hand over to an AE at discovery and
			// start on the next account.
			if o.stage < stQualification {
				o.stage = stQualification
				i.Stage = stageNames[stQualification]
			} else {
				i.Stage = stageNames[stDiscovery]
				g.resetOpp(r, o)
			}
			return
		}
		if o.stage < stNegotiation {
			o.stage++
		}
		i.Stage = stageNames[o.stage]
		i.Has |= schemas.HasAmount
		i.Amount = o.list
		i.Currency = r.site.currency
	case u < rp.crmCum[2]:
		i.Type = schemas.TypeQuoteCreated
		o := &r.opps[g.rng.IntN(oppsPerRep)]
		if o.stage < stProposal {
			o.stage = stProposal
		}
		o.disc = g.drawDiscount()
		i.AccountID = g.accounts[o.acct].id
		i.Stage = stageNames[o.stage]
		g.setPrice(i, o, r.site.currency)
		q := &g.cfg.Quotes
		if o.disc <= q.ApprovalAbovePct {
			return
		}
		if o.disc >= q.PlantedMinPct && g.rng.Float64() < 0.5 {
			return // planted: beyond authority and nobody was asked
		}
		at := it.at + int64(2+g.rng.IntN(19))*60000
		g.push(item{
			at: at, day: it.day, rep: rep, acct: o.acct, kind: kindApprovalRequest,
			disc: o.disc, list: o.list,
		}, r.site, it.day)
	default:
		o := &r.opps[g.rng.IntN(oppsPerRep)]
		p := g.winProbability(o, it.at)
		i.AccountID = g.accounts[o.acct].id
		if g.rng.Float64() < p {
			i.Type, i.Stage = schemas.TypeDealWon, StageClosedWon
		} else {
			i.Type, i.Stage = schemas.TypeDealLost, StageClosedLost
		}
		i.Has |= schemas.HasAmount
		i.Amount = round2(o.list * (1 - o.disc/100))
		i.Currency = r.site.currency
		if i.Type == schemas.TypeDealWon {
			g.trackWon(r, i.Amount)
		}
		g.resetOpp(r, o)
	}
}

func (g *Generator) respond(r *repState, it *item, i *schemas.Interaction) {
	switch it.ch {
	case schemas.ChannelEmail:
		i.Type = schemas.TypeMessageOutbound
	case schemas.ChannelPhone:
		i.Type = schemas.TypeCallOutbound
		g.callDuration(i)
	default:
		i.Type = schemas.TypeSocialOutbound
	}
	i.Channel = it.ch
	ref := leadRef{id: it.ref, acct: it.acct, num: it.lead}
	g.setLead(i, r, ref, it.ch)
	if it.first {
		// Only answered leads are followed up, so the answer scheduled
		// here stays the lead's first outbound touch: the stream's
		// response times are exactly the drawn delays.
		r.ring[r.ringNext] = ref
		r.ringNext = (r.ringNext + 1) % ringSize
		r.ringN = min(r.ringN+1, ringSize)
	}
}

func (g *Generator) requestApproval(rep int32, it *item, i *schemas.Interaction) {
	r := &g.reps[rep]
	g.approvalSeq++
	id := g.apprPrefix + strconv.FormatUint(g.approvalSeq, 10)
	i.Type = schemas.TypeApprovalRequested
	g.approval(r, it, i, id)
	a := &g.cfg.Approvals
	delay := lognormal(g.rng, a.Median, a.Sigma, a.Max)
	g.push(item{
		at: it.at + delay, t0: it.at, ref: id, rep: rep, acct: it.acct, kind: kindApprovalDecide,
		disc: it.disc, list: it.list,
	}, r.site, it.day)
}

func (g *Generator) decideApproval(r *repState, it *item, i *schemas.Interaction) {
	i.Type = schemas.TypeApprovalDecided
	g.approval(r, it, i, it.ref)
	i.Has |= schemas.HasApproved
	i.Approved = g.rng.Float64() < g.cfg.Approvals.ApproveRate
	if it.at-it.t0 > int64(day/time.Millisecond) {
		g.stats.slowApprovals.add(it.ref)
	}
}

func (g *Generator) approval(r *repState, it *item, i *schemas.Interaction, id string) {
	i.Channel = schemas.ChannelCRM
	i.ApprovalID = id
	i.ApproverID = r.manager
	i.AccountID = g.accounts[it.acct].id
	g.setPrice(i, &opp{list: it.list, disc: it.disc}, r.site.currency)
}

func (g *Generator) setPrice(i *schemas.Interaction, o *opp, currency string) {
	i.Has |= schemas.HasAmount | schemas.HasListPrice | schemas.HasDiscount
	i.ListPrice = o.list
	i.DiscountPct = o.disc
	i.Amount = round2(o.list * (1 - o.disc/100))
	i.Currency = currency
}

// newLead draws a new lead of r: a new person (leadContact) at one of r's
// accounts.
func (g *Generator) newLead(r *repState) leadRef {
	g.leadSeq++
	return leadRef{
		id:   g.leadPrefix + strconv.FormatUint(g.leadSeq, 10),
		acct: r.acct0 + int32(g.rng.IntN(accountsPerRep)),
		num:  g.leadSeq,
	}
}

// setLead makes i a touch of lead ref (of rep r) and returns its person.
func (g *Generator) setLead(i *schemas.Interaction, r *repState, ref leadRef, ch schemas.Channel) contact {
	i.LeadID = ref.id
	i.AccountID = g.accounts[ref.acct].id
	c := g.leadContact(ref.num, r, ref.acct)
	g.reveal(i, &c, ch)
	return c
}

// setContact makes i a touch of account contact n: an existing customer,
// no lead.
func (g *Generator) setContact(i *schemas.Interaction, n int32, ch schemas.Channel) {
	c := &g.contacts[n]
	g.reveal(i, c, ch)
	g.last.acctContact, g.last.person = n, c.crm()
}

// reveal puts what the channel shows of the person into i, in the form
// the channel's systems write it: the lower-cased address of an e-mail or
// meeting invitation, the E.164 number of a call (the mobile for a third
// of the calls to a person who has one), the name everywhere.
func (g *Generator) reveal(i *schemas.Interaction, c *contact, ch schemas.Channel) {
	i.Contact.Name = c.name
	switch ch {
	case schemas.ChannelEmail, schemas.ChannelMeeting:
		i.Contact.Email = c.email
	case schemas.ChannelPhone:
		i.Contact.Phone = c.phone.e164
		if c.mobile.e164 != "" && g.rng.IntN(3) == 0 {
			i.Contact.Phone = c.mobile.e164
		}
	}
}

// resetOpp starts a new opportunity in slot o at an account of r's
// territory that none of r's other open opportunities is at: the stream
// knows an opportunity by its account (docs/scores.md), so two open at
// one account would be one to it. The account is drawn, then the next
// free one taken, so the draws stay those of before.
func (g *Generator) resetOpp(r *repState, o *opp) {
	*o = opp{}
	a := int32(g.rng.IntN(accountsPerRep))
	for k := 0; k < accountsPerRep && g.acctOpen(r, r.acct0+a); k++ {
		a = (a + 1) % accountsPerRep
	}
	*o = opp{
		acct: r.acct0 + a,
		list: math.Max(100, math.Round(g.cfg.Quotes.ListPriceMedian*math.Exp(0.7*g.rng.NormFloat64())/100)*100),
	}
}

// acctOpen reports whether one of r's opportunities is at account a
// (slots not yet started have no list price).
func (g *Generator) acctOpen(r *repState, a int32) bool {
	for k := range r.opps {
		if r.opps[k].list != 0 && r.opps[k].acct == a {
			return true
		}
	}
	return false
}

// drawDiscount draws from the configured mixture, in steps of 0.5 points.
func (g *Generator) drawDiscount() float64 {
	q := &g.cfg.Quotes
	u := g.rng.Float64()
	switch {
	case u < q.ZeroShare:
		return 0
	case u < q.ZeroShare+q.PlantedShare:
		lo, steps := plantedSteps(q)
		return lo + 0.5*float64(1+g.rng.IntN(steps))
	case u < q.ZeroShare+q.PlantedShare+q.HighShare:
		return q.NormalMaxPct + 0.5*float64(1+g.rng.IntN(halfSteps(q.NormalMaxPct, q.HighMaxPct)))
	}
	return 0.5 * float64(1+g.rng.IntN(halfSteps(0, q.NormalMaxPct)))
}

func halfSteps(lo, hi float64) int { return max(1, int((hi-lo)/0.5)) }

func plantedSteps(q *QuoteConfig) (lo float64, steps int) {
	return q.PlantedMinPct - 0.5, halfSteps(q.PlantedMinPct-0.5, q.PlantedMaxPct)
}

// approvalShare is the probability that a quote asks for approval, computed
// from the same distribution drawDiscount samples.
func approvalShare(q *QuoteConfig) float64 {
	above := func(lo float64, steps int) float64 {
		n := 0
		for k := 1; k <= steps; k++ {
			if lo+0.5*float64(k) > q.ApprovalAbovePct {
				n++
			}
		}
		return float64(n) / float64(steps)
	}
	lo, steps := plantedSteps(q)
	normal := 1 - q.ZeroShare - q.PlantedShare - q.HighShare
	return normal*above(0, halfSteps(0, q.NormalMaxPct)) +
		q.HighShare*above(q.NormalMaxPct, halfSteps(q.NormalMaxPct, q.HighMaxPct)) +
		q.PlantedShare*above(lo, steps)*0.5 // half of the planted skip the request
}

// solveRole derives per-tick probabilities from the target channel mix.
// A tick on email, phone or social yields 1 event plus, when inbound, an
// answer on the same channel; a CRM tick yields 1 event plus approval
// requests and decisions (CRM too) and answers to new leads (email or
// phone). Solving those expectations backwards gives tick weights whose
// events land on the target mix; the tick rate then gives the daily volume.
func solveRole(cfg *Config, role int) roleParams {
	m := cfg.Mix
	sum := m.Email + m.Phone + m.Meeting + m.Social + m.CRM
	fe, fp, fm, fs, fc := m.Email/sum, m.Phone/sum, m.Meeting/sum, m.Social/sum, m.CRM/sum
	never := cfg.Response.NeverAnswered
	touch := 1 + cfg.InboundShare*(0.5*(1-never)+0.5)

	var qLead, qStage, qQuote float64
	if role == roleAE {
		qQuote = cfg.Quotes.Share
		rest := 1 - qQuote
		qLead, qStage = 0.25*rest, 0.5*rest
	} else {
		qLead, qStage = 0.5, 0.5
	}
	crm := 1 + qQuote*2*approvalShare(&cfg.Quotes)
	xe, xp := qLead*(1-never)*0.7, qLead*(1-never)*0.3

	wc := fc / crm
	we := math.Max(0, fe-wc*xe) / touch
	wp := math.Max(0, fp-wc*xp) / touch
	ws := fs / touch
	wm := fm
	w := we + wp + wm + ws + wc
	// Events per unit of weight: 1 when nothing was clamped, less when a
	// mix with little email meets many new leads; dividing by it keeps the
	// daily volume right either way.
	events := we*touch + wp*touch + wm + ws*touch + wc*(crm+xe+xp)
	p := roleParams{ticksPerDay: cfg.InteractionsPerRepDay * w / events}
	cum := 0.0
	for k, v := range [...]float64{we, wp, wm, ws, wc} {
		cum += v / w
		p.channelCum[k] = cum
	}
	p.channelCum[4] = 1
	p.crmCum = [4]float64{qLead, qLead + qStage, qLead + qStage + qQuote, 1}
	return p
}

// scheduleTick advances the rep's working-time cursor by a gamma(4) gap,
// which is more regular than Poisson arrivals (reps work through a list),
// and pushes the next tick unless it falls after the last day.
func (g *Generator) scheduleTick(rep int32) {
	r := &g.reps[rep]
	s := r.site
	mean := float64(s.dayLen) / (g.roles[r.role].ticksPerDay * r.pace)
	u := (1 - g.rng.Float64()) * (1 - g.rng.Float64()) * (1 - g.rng.Float64()) * (1 - g.rng.Float64())
	r.wk += max(1, int64(-mean/4*math.Log(u)))
	r.day = r.wk / s.dayLen
	at := s.open(r.day) + r.wk%s.dayLen
	if at >= s.end {
		return
	}
	g.pushAt(item{at: at, day: r.day, rep: rep, kind: kindTick})
}

func (g *Generator) scheduleResponse(rep int32, it *item, ref leadRef, ch schemas.Channel, first bool) {
	r := &g.reps[rep]
	rc := &g.cfg.Response
	g.push(item{
		at: it.at + lognormal(g.rng, rc.Median, rc.Sigma, rc.Max), t0: it.at, ref: ref.id,
		rep: rep, acct: ref.acct, lead: ref.num, kind: kindResponse, ch: ch, first: first,
	}, r.site, it.day)
}

// push moves a follow-up into the site's working hours (searching from work
// day fromDay, which must not be later than the item's day) and schedules
// it, or counts it as truncated when that is after the last day.
func (g *Generator) push(it item, s *siteState, fromDay int64) {
	it.at, it.day = s.shift(g.rng, fromDay, it.at)
	if it.at >= s.end {
		g.stats.truncated++
		return
	}
	g.pushAt(it)
}

func lognormal(rng *rand.Rand, median time.Duration, sigma float64, maxD time.Duration) int64 {
	d := float64(median.Milliseconds()) * math.Exp(sigma*rng.NormFloat64())
	return int64(math.Min(d, float64(maxD.Milliseconds())))
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

// siteState maps work days to instants in one office's time zone.
type siteState struct {
	loc      *time.Location
	y        int
	m        time.Month
	d        int
	openMin  int
	dayLen   int64 // ms of work per day
	wdOff    []int // calendar offsets of the work days within a week from day 0
	end      int64 // unix ms of the end of the last day
	currency string
	country  string // Site.Country, or the one its zone implies
	// A direct-mapped cache of open(n): time.Date in a zone costs more
	// than generating an event, and reps of one site share days.
	cacheN    [32]int64 // n+1, so the zero value means empty
	cacheOpen [32]int64
}

// open returns the unix ms at which work day n starts. Work day 0 is the
// first work day on or after the start date; days are computed with
// time.Date in the site's zone, so daylight saving changes are honoured.
func (s *siteState) open(n int64) int64 {
	k := n & 31
	if s.cacheN[k] == n+1 {
		return s.cacheOpen[k]
	}
	per := int64(len(s.wdOff))
	off := int((n/per)*7) + s.wdOff[n%per]
	ms := time.Date(s.y, s.m, s.d+off, s.openMin/60, s.openMin%60, 0, 0, s.loc).UnixMilli()
	s.cacheN[k], s.cacheOpen[k] = n+1, ms
	return ms
}

// shift returns t if it is within working hours, else the next opening plus
// up to half an hour (nobody answers at 08:00:00.000 sharp), and the work
// day of the result.
func (s *siteState) shift(rng *rand.Rand, n, t int64) (int64, int64) {
	for {
		o := s.open(n)
		if t < o {
			return o + rng.Int64N(min(30*60000, s.dayLen/4)+1), n
		}
		if t < o+s.dayLen {
			return t, n
		}
		n++
	}
}

// The heap: a hand-written binary min-heap on (at, seq), avoiding
// container/heap's interface boxing on the hot path.

func (g *Generator) pushAt(it item) {
	g.pushSeq++
	it.seq = g.pushSeq
	g.heap = append(g.heap, it)
	h := g.heap
	k := len(h) - 1
	for k > 0 {
		p := (k - 1) / 2
		if !less(&h[k], &h[p]) {
			break
		}
		h[k], h[p] = h[p], h[k]
		k = p
	}
}

func (g *Generator) pop() item {
	h := g.heap
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h[last] = item{} // drop the string reference
	h = h[:last]
	k := 0
	for {
		l := 2*k + 1
		if l >= len(h) {
			break
		}
		c := l
		if r := l + 1; r < len(h) && less(&h[r], &h[l]) {
			c = r
		}
		if !less(&h[c], &h[k]) {
			break
		}
		h[k], h[c] = h[c], h[k]
		k = c
	}
	g.heap = h
	return top
}

func less(a, b *item) bool { return a.at < b.at || a.at == b.at && a.seq < b.seq }
