package vendorkit

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/salespulse/salespulse/schemas"
)

// Synthetic payloads. The generator (sources/gen) decides which vendor
// carries each generated interaction and asks that vendor's Encoder to
// render it; the encoders live beside the decoders they feed, so a change
// of wire format and its decoder are one diff. Everything here is shared by
// the encoders of one generator and is deterministic: the same seed and the
// same sequence of interactions give the same bytes.

// Record is one Kafka record as a vendor (or its webhook relay) would write
// it.
type Record struct {
	Vendor string // the Name of the vendor whose encoder wrote it
	Key    []byte // the canonical partition key of the interaction it renders
	Value  []byte
	// Expected is what the vendor's decoder must append for Value, in
	// order: empty for noise the decoder skips. Filled only when
	// Synth.Expect is set.
	Expected []schemas.Interaction
}

// Carry says how an Encoder can carry an interaction.
type Carry uint8

const (
	// CarryNo: the vendor cannot carry it.
	CarryNo Carry = iota
	// CarryFallback: the vendor carries anything (the canonical JSON),
	// used when no vendor carries it natively.
	CarryFallback
	// CarryNative: the vendor carries it as its own payload. When several
	// vendors do, the generator picks one at random.
	CarryNative
)

// Encoder renders generated interactions as one vendor's records.
type Encoder interface {
	// Carries reports whether the vendor would send in for rep (nil for a
	// rep the org does not know). It must not draw from the random source:
	// the generator asks every vendor.
	Carries(in *schemas.Interaction, rep *SynthRep) Carry
	// Encode appends in's records to s (Synth.Record), and with s.Expect
	// the interactions the vendor's decoder must produce for them.
	Encode(s *Synth, in *schemas.Interaction, key []byte, rep *SynthRep)
}

// CRM is implemented by the Encoder of a CRM vendor. Each generated team
// works in one CRM; records about a lead or an account carry that CRM's
// ids, in every vendor's payload, so they pair with the CRM's lead.created.
type CRM interface {
	// LeadID returns the CRM's id of the generator's lead id (not "").
	LeadID(s *Synth, lead string) string
	// AccountID returns the CRM's id of the generator's account id (not "").
	AccountID(s *Synth, account string) string
}

// SynthRep is a rep of the generated org as the encoders see it: the
// vendor identities the org gives them, and their team's CRM.
type SynthRep struct {
	*schemas.Rep
	// CRM is the Name of the vendor whose CRM the rep's team works in, ""
	// for none.
	CRM string
	// Colleague is another rep of the team (the rep itself in a team of
	// one), for internal mail, invitees and hand-overs.
	Colleague *SynthRep
	crm       CRM
}

// NewSynthRep returns r's view for the encoders; crm (named crmName) is its
// team's CRM, nil for none.
func NewSynthRep(r *schemas.Rep, crmName string, crm CRM) *SynthRep {
	return &SynthRep{Rep: r, CRM: crmName, crm: crm}
}

// LeadID translates a generator lead id into the id of the rep's CRM.
func (r *SynthRep) LeadID(s *Synth, lead string) string {
	if lead == "" || r.crm == nil {
		return lead
	}
	return r.crm.LeadID(s, lead)
}

// AccountID translates a generator account id into the id of the rep's
// CRM.
func (r *SynthRep) AccountID(s *Synth, account string) string {
	if account == "" || r.crm == nil {
		return account
	}
	return r.crm.AccountID(s, account)
}

// First returns the first of ids, "" when there is none: a rep's main
// identity in a vendor.
func First(ids []string) string {
	if len(ids) == 0 {
		return ""
	}
	return ids[0]
}

// Synth is the state the encoders of one generator share. It is not safe
// for concurrent use.
type Synth struct {
	// Rand is the one random source of every encoder: each draw shifts the
	// ones after it, so encoders draw in a fixed order.
	Rand *rand.Rand
	// Seed is the generator's seed, SeedText the same in decimal.
	Seed     uint64
	SeedText string
	// Seq numbers the interactions encoded, from 1; encoders derive ids
	// from it.
	Seq uint64
	// Expect makes every record carry the interactions its decoder must
	// produce (slower: it allocates them).
	Expect bool
	// MailDomain is the domain of the reps' mailboxes.
	MailDomain string
	// Vendor is the Name of the vendor whose encoder runs: the generator
	// sets it before each Encode, so an encoder writes only its own
	// vendor's records and needs no name of its own.
	Vendor string

	recs []Record
	n    int
}

// Begin starts the records of the next interaction: it forgets the
// previous ones (keeping their buffers) and advances Seq.
func (s *Synth) Begin() {
	s.n = 0
	s.Seq++
}

// Records returns the records written since Begin. The slice and every
// byte slice in it are valid until the next Begin.
func (s *Synth) Records() []Record { return s.recs[:s.n] }

// Record starts the next record of s.Vendor, reusing the buffers of an
// earlier interaction.
func (s *Synth) Record(key []byte) *Record {
	if s.n == len(s.recs) {
		s.recs = append(s.recs, Record{})
	}
	r := &s.recs[s.n]
	s.n++
	r.Vendor = s.Vendor
	r.Key = append(r.Key[:0], key...)
	r.Value = r.Value[:0]
	r.Expected = r.Expected[:0]
	return r
}

// Want appends the interaction r's decoder must produce: the fields of in
// that every vendor carries, with the vendor's name as its source; the
// caller sets the rest.
func (s *Synth) Want(r *Record, in *schemas.Interaction, eventID string) *schemas.Interaction {
	r.Expected = append(r.Expected, schemas.Interaction{
		EventID: eventID, Source: r.Vendor, Type: in.Type, Channel: in.Type.DefaultChannel(),
		OccurredAt: in.OccurredAt, RepID: in.RepID, TeamID: in.TeamID,
	})
	return &r.Expected[len(r.Expected)-1]
}

var subjectTopics = [...]string{"pricing", "next steps", "your evaluation", "the proposal", "onboarding", "the renewal", "our call", "integration questions"}

// Subject is mail/meeting free text naming the contact, as real subjects
// do: personal data the privacy stage must keep out of ClickHouse.
func (s *Synth) Subject(in *schemas.Interaction) string {
	t := subjectTopics[s.Rand.IntN(len(subjectTopics))]
	if in.Contact.Name == "" {
		return "About " + t
	}
	return "About " + t + ", " + in.Contact.Name
}

// IDNumber is the number after the last '-' of a generator id
// ("lead-1-42" → 42, "acc-000123" → 123).
func IDNumber(id string) uint64 {
	n, _ := strconv.ParseUint(id[strings.LastIndexByte(id, '-')+1:], 10, 64)
	return n
}

// CustomerContact reports whether a generator lead id names an existing
// customer's contact (contact-<seed>-<n>, the lead id of the lead.updated
// that teaches its identity) rather than a lead: CRMs keep the two apart
// (a Salesforce Contact, not a Lead).
func CustomerContact(lead string) bool { return strings.HasPrefix(lead, "contact-") }

// HexDigits are the lower-case hexadecimal digits.
const HexDigits = "0123456789abcdef"

// CarryWithoutLead is the Carries of a vendor that has no lead ids (the
// telephony, meeting and mail vendors): it carries natively an interaction
// of one of types by a rep it knows, and only when it names no lead, so
// lead touches stay with the vendors where lead_id survives.
func CarryWithoutLead(in *schemas.Interaction, rep *SynthRep, types ...schemas.Type) Carry {
	if rep == nil || in.LeadID != "" || !slices.Contains(types, in.Type) {
		return CarryNo
	}
	return CarryNative
}
