package gen

import (
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources"
	"github.com/salespulse/salespulse/sources/vendorkit"
)

// VendorRecord is one Kafka record as a vendor (or its webhook relay)
// would write it; Vendor is the name of a sources.Vendors entry.
type VendorRecord = vendorkit.Record

// VendorEncoder renders canonical interactions of one Generator as the
// payloads their vendors would send, as the vendors know them (the vendor
// format). The wire formats live in the vendor folders, beside the
// decoders they feed (each vendor's synth.go); the encoder decides what
// each system knows of an interaction and which vendor carries it: the
// vendors that carry it natively, one drawn at random when several do
// (Aircall or Twilio for a call), else the canonical JSON.
// docs/sources.md ("Synthetic payloads") has the resulting table.
//
// The generator's stream is the truth: every touch of a lead names the
// lead. The systems that carry touches do not know CRM lead ids, so in the
// vendor format:
//   - calls, mails and meetings carry only the contact (the E.164 number
//     of a call, the lower-cased address of a mail or meeting), neither
//     lead nor account id, and their records are keyed by the rep, not by
//     the lead: pairing them with their lead is the pipeline's work;
//   - a meeting is the rep's meeting.held, without the guest, and the
//     guest's meeting.joined (with the e-mail) 90 s after the start;
//   - an inbound touch that makes a new lead (social ones too) is
//     preceded by the lead's lead.created in the team's CRM (same
//     instant, the CRM copy of the contact: e-mail as typed, national
//     number, country);
//   - the first touch of an account contact (an existing customer, not a
//     lead) is preceded by its identity in the team's CRM: a lead.updated
//     whose lead id is the contact's generator id, contact-<seed>-<n>
//     (ContactID), which the CRM encoder translates like a lead id;
//   - social touches keep their lead: social selling tools log them on
//     the CRM lead, and no contact key would find it;
//   - one in crmLoggedShare lead mails, outbound calls and meetings of a
//     team whose CRM has activities (Salesforce Tasks and Events) is
//     logged on the lead there instead: the activity names the lead and
//     no contact, and no other system sees the touch.
//
// CRM facts (lead.created, stage changes, quotes, approvals, deals) keep
// their ids. Rendered returns the interactions as rendered, after Encode.
//
// It is deterministic: the same generator config and the same sequence of
// Encode calls give the same bytes. It is not safe for concurrent use.
type VendorEncoder struct {
	g     *Generator
	s     vendorkit.Synth
	encs  []vendorkit.Encoder // in sources.Vendors order
	names []string            // their vendors' names
	reps  map[string]*vendorkit.SynthRep
	cand  []int
	// known marks the account contacts whose CRM identity was sent.
	known    []bool
	idPrefix string // "contact-<seed>-"
	work     schemas.Interaction
	rendered []schemas.Interaction
	keyBuf   []byte
}

// contactIDBase keeps account contacts' numbers (ContactID) clear of lead
// numbers: the CRM encoders derive record ids from the number alone.
const contactIDBase = 1_000_000_000

// NewVendorEncoder returns an encoder for g's org; it reads g's state
// after each g.Next, so it must see every interaction of g, in order. With
// expect, every record also carries the interactions its decoder must
// produce (slower: it allocates them).
func NewVendorEncoder(g *Generator, expect bool) *VendorEncoder {
	cfg := g.Config()
	e := &VendorEncoder{
		g: g,
		s: vendorkit.Synth{
			Rand:       rand.New(rand.NewPCG(cfg.Seed, 0x76656e646f72)), // "vendor"
			Seed:       cfg.Seed,
			SeedText:   strconv.FormatUint(cfg.Seed, 10),
			Expect:     expect,
			MailDomain: MailDomain,
		},
		reps:     map[string]*vendorkit.SynthRep{},
		known:    make([]bool, len(g.contacts)),
		idPrefix: "contact-" + strconv.FormatUint(cfg.Seed, 10) + "-",
	}
	type crm struct {
		name string
		crm  vendorkit.CRM
	}
	var crms []crm
	for _, v := range sources.Vendors() {
		enc := v.NewEncoder()
		e.encs, e.names = append(e.encs, enc), append(e.names, v.Name)
		if c, ok := enc.(vendorkit.CRM); ok {
			crms = append(crms, crm{v.Name, c})
		}
	}
	org := g.Org()
	byTeam := map[string][]*vendorkit.SynthRep{}
	for k := range org.Reps {
		r := &org.Reps[k]
		var c crm
		if n := uint64(len(crms)); n > 0 {
			// team-01 works in the first CRM, team-02 in the second, ...
			c = crms[(vendorkit.IDNumber(r.TeamID)+n-1)%n]
		}
		id := vendorkit.NewSynthRep(r, c.name, c.crm)
		e.reps[r.ID] = id
		byTeam[r.TeamID] = append(byTeam[r.TeamID], id)
	}
	for _, team := range byTeam {
		for k, id := range team {
			id.Colleague = team[(k+1)%len(team)]
		}
	}
	return e
}

// ContactID is the generator id of account contact n (an existing
// customer), as lead.updated carries it: contact-<seed>-<1e9+n>.
func (e *VendorEncoder) ContactID(n int32) string {
	return e.idPrefix + strconv.FormatUint(contactIDBase+uint64(n), 10)
}

// touch reports whether a system other than the CRM carries t: calls,
// mails and meetings.
func touch(t schemas.Type) bool {
	switch t {
	case schemas.TypeMessageInbound, schemas.TypeMessageOutbound, schemas.TypeCallInbound, schemas.TypeCallOutbound, schemas.TypeMeetingHeld:
		return true
	}
	return false
}

// Encode renders in (the interaction g.Next returned last, with its key)
// as vendor records: the records that carry it (and the identity facts
// that come with it, see VendorEncoder), preceded or followed by noise the
// decoders must skip. The returned slice and every byte slice in it are
// valid until the next call to Encode.
func (e *VendorEncoder) Encode(in *schemas.Interaction, key []byte) []VendorRecord {
	e.s.Begin()
	e.rendered = e.rendered[:0]
	last := &e.g.last
	rep := e.reps[in.RepID] // nil: not a rep of the org, nobody's vendor identity
	w := &e.work
	if last.newLead && in.LeadID != "" {
		*w = schemas.Interaction{
			EventID: in.EventID + ".lead", OccurredAt: in.OccurredAt, Source: in.Source,
			Type: schemas.TypeLeadCreated, Channel: schemas.ChannelCRM, RepID: in.RepID, TeamID: in.TeamID,
			AccountID: in.AccountID, LeadID: in.LeadID, Contact: last.person,
		}
		e.encode(w, key, rep)
	}
	if !touch(in.Type) {
		e.encode(in, key, rep)
		return e.s.Records()
	}
	if n := last.acctContact; n >= 0 && !e.known[n] && (in.Contact.Email != "" || in.Contact.Phone != "") {
		e.known[n] = true
		id := e.ContactID(n)
		*w = schemas.Interaction{
			EventID: in.EventID + ".contact", OccurredAt: in.OccurredAt, Source: in.Source,
			Type: schemas.TypeLeadUpdated, Channel: schemas.ChannelCRM, RepID: in.RepID, TeamID: in.TeamID,
			AccountID: e.g.accounts[n/contactsPerAcct].id, LeadID: id, Contact: last.person,
		}
		e.encode(w, append(e.keyBuf[:0], id...), rep)
	}
	if in.LeadID != "" && e.crmLogged(in, rep) {
		// The rep logs the touch on the lead in the CRM (an e-mail sent
		// from Salesforce, a call from a desk phone logged by hand, an
		// on-site meeting): the CRM's activity names the lead, no
		// contact, and no other system sees it. (The encoder still reads
		// the contact's name, as a subject names the person.)
		e.encode(in, key, rep)
		e.rendered[len(e.rendered)-1].Contact = schemas.Contact{}
		return e.s.Records()
	}
	// The touch as its system knows it: the contact, no CRM ids; keyed
	// by the rep, as a vendor relay keys by user or mailbox.
	*w = *in
	w.LeadID, w.AccountID = "", ""
	e.keyBuf = append(e.keyBuf[:0], in.RepID...)
	if in.Type != schemas.TypeMeetingHeld || in.Contact.Email == "" {
		e.encode(w, e.keyBuf, rep)
		return e.s.Records()
	}
	guest := w.Contact
	w.Contact = schemas.Contact{}
	e.encode(w, e.keyBuf, rep)
	*w = schemas.Interaction{
		EventID: in.EventID + ".joined", OccurredAt: in.OccurredAt.Truncate(time.Second).Add(90 * time.Second), Source: in.Source,
		Type: schemas.TypeMeetingJoined, Channel: schemas.ChannelMeeting, RepID: in.RepID, TeamID: in.TeamID,
		Contact: schemas.Contact{Email: guest.Email, Name: guest.Name},
	}
	e.encode(w, e.keyBuf, rep)
	return e.s.Records()
}

// crmLoggedShare is the share of a team's lead touches (outbound mails and
// calls, meetings) that its CRM logs as activities of the lead, when the
// CRM has such activities (Salesforce Tasks and Events; HubSpot's
// engagements are not rendered).
const crmLoggedShare = 5 // one in five

// crmLogged reports whether in, a touch of a lead, is logged in the rep's
// CRM rather than sent through a telephony, mail or meeting vendor: some
// vendor carries it natively with its lead id, and one draw in
// crmLoggedShare says so. It draws only when a vendor could.
func (e *VendorEncoder) crmLogged(in *schemas.Interaction, rep *vendorkit.SynthRep) bool {
	switch in.Type {
	case schemas.TypeMessageOutbound, schemas.TypeCallOutbound, schemas.TypeMeetingHeld:
	default:
		return false
	}
	for _, enc := range e.encs {
		if enc.Carries(in, rep) == vendorkit.CarryNative {
			return e.s.Rand.IntN(crmLoggedShare) == 0
		}
	}
	return false
}

// Rendered returns the interactions the last Encode rendered, as the
// vendors know them, in order: what the decoders together must produce
// from its records. Valid until the next call to Encode.
func (e *VendorEncoder) Rendered() []schemas.Interaction { return e.rendered }

// encode renders one interaction with the vendor that carries it.
func (e *VendorEncoder) encode(in *schemas.Interaction, key []byte, rep *vendorkit.SynthRep) {
	best := vendorkit.CarryNo
	e.cand = e.cand[:0]
	for k, enc := range e.encs {
		switch c := enc.Carries(in, rep); {
		case c > best:
			best, e.cand = c, append(e.cand[:0], k)
		case c == best && c != vendorkit.CarryNo:
			e.cand = append(e.cand, k)
		}
	}
	var k int
	switch len(e.cand) {
	case 0:
		return
	case 1:
		k = e.cand[0]
	default:
		k = e.cand[e.s.Rand.IntN(len(e.cand))]
	}
	if len(e.rendered) > 0 {
		// Encoders derive ids from Seq: each interaction gets its own.
		e.s.Seq++
	}
	e.rendered = append(e.rendered, *in)
	e.s.Vendor = e.names[k]
	e.encs[k].Encode(&e.s, in, key, rep)
}
