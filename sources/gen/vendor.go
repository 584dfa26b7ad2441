package gen

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/salespulse/salespulse/schemas"
)

// Vendor names: the keys of the topic map ProduceVendor takes and the
// values of VendorRecord.Vendor.
const (
	VendorCanonical  = "canonical"
	VendorSalesforce = "salesforce"
	VendorHubSpot    = "hubspot"
	VendorZoom       = "zoom"
	VendorGraph      = "graph"
	VendorAircall    = "aircall"
	VendorTwilio     = "twilio"
)

// Vendors lists every vendor name.
func Vendors() []string {
	return []string{VendorCanonical, VendorSalesforce, VendorHubSpot, VendorZoom, VendorGraph, VendorAircall, VendorTwilio}
}

// DefaultVendorTopics maps every vendor to its default topic, the ones the
// decoders default to.
func DefaultVendorTopics() map[string]string {
	return map[string]string{
		VendorCanonical:  "sales.canonical",
		VendorSalesforce: "sales.salesforce",
		VendorHubSpot:    "sales.hubspot",
		VendorZoom:       "sales.zoom",
		VendorGraph:      "sales.graph",
		VendorAircall:    "sales.aircall",
		VendorTwilio:     "sales.twilio",
	}
}

// VendorRecord is one Kafka record as a vendor (or its webhook relay)
// would write it.
type VendorRecord struct {
	Vendor string // one of the Vendor* names
	Key    []byte // the canonical partition key of the interaction it renders
	Value  []byte
	// Expected is what the vendor's decoder must append for Value, in
	// order: empty for noise the decoder skips. Filled only by an encoder
	// made with expect = true; compare with DiffVendor.
	Expected []schemas.Interaction
}

// Salesforce stage labels and HubSpot internal deal stage ids for the
// generator's stages. HubSpot's are the default sales pipeline's ids, so
// the HubSpot decoder's default won/lost stages apply.
var (
	sfStages = map[string]string{
		"prospecting": "Prospecting", "qualification": "Qualification", "discovery": "Needs Analysis",
		"proposal": "Proposal/Price Quote", "negotiation": "Negotiation/Review",
		StageClosedWon: "Closed Won", StageClosedLost: "Closed Lost",
	}
	hsStages = map[string]string{
		"prospecting": "appointmentscheduled", "qualification": "qualifiedtobuy", "discovery": "presentationscheduled",
		"proposal": "decisionmakerboughtin", "negotiation": "contractsent",
		StageClosedWon: "closedwon", StageClosedLost: "closedlost",
	}
)

// crm is the CRM a team works in.
type crm uint8

const (
	crmSalesforce crm = iota
	crmHubSpot
)

// repIdent is what the encoder needs about a rep: the vendor identities the
// org file gives them.
type repIdent struct {
	name, mailbox, sfUser, hsUser, zoomUser, aircallUser, phone string
	crm                                                         crm
	colleague                                                   *repIdent // another rep of the team, for internal mail and invitees
}

// VendorEncoder renders canonical interactions of one Generator as the
// payloads their vendors would send. It is deterministic: the same
// generator config and the same sequence of Encode calls give the same
// bytes. It is not safe for concurrent use.
//
// Which vendor carries an interaction (the full table is in vendor_doc.go):
// odd-numbered teams work in Salesforce, even-numbered ones in HubSpot. A
// touch that belongs to a lead travels only where lead_id survives
// (Salesforce Task/Event for Salesforce teams, canonical JSON otherwise),
// so lead response time stays computable; touches without a lead go to
// Graph, Zoom, Aircall and Twilio.
type VendorEncoder struct {
	expect bool
	reps   map[string]*repIdent
	rng    *rand.Rand
	seq    uint64
	portal uint64
	seed   string
	recs   []VendorRecord
	n      int
	canon  schemas.Interaction
	tmp    []byte
}

// NewVendorEncoder returns an encoder for g's org. With expect, every
// record also carries the interactions its decoder must produce (slower:
// it allocates them).
func NewVendorEncoder(g *Generator, expect bool) *VendorEncoder {
	cfg := g.Config()
	e := &VendorEncoder{
		expect: expect,
		reps:   map[string]*repIdent{},
		rng:    rand.New(rand.NewPCG(cfg.Seed, 0x76656e646f72)), // "vendor"
		portal: 20000000 + cfg.Seed%1000000,
		seed:   strconv.FormatUint(cfg.Seed, 10),
	}
	org := g.Org()
	byTeam := map[string][]*repIdent{}
	for k := range org.Reps {
		r := &org.Reps[k]
		id := &repIdent{name: r.Name, crm: teamCRM(r.TeamID)}
		if len(r.Mailboxes) > 0 {
			id.mailbox = r.Mailboxes[0]
		}
		if len(r.SalesforceUserIDs) > 0 {
			id.sfUser = r.SalesforceUserIDs[0]
		}
		if len(r.HubSpotUserIDs) > 0 {
			id.hsUser = r.HubSpotUserIDs[0] // the sourceId "userId:<id>" one
		}
		if len(r.ZoomUserIDs) > 0 {
			id.zoomUser = r.ZoomUserIDs[0]
		}
		if len(r.AircallUserIDs) > 0 {
			id.aircallUser = r.AircallUserIDs[0]
		}
		if len(r.PhoneNumbers) > 0 {
			id.phone = r.PhoneNumbers[0]
		}
		e.reps[r.ID] = id
		byTeam[r.TeamID] = append(byTeam[r.TeamID], id)
	}
	for _, team := range byTeam {
		for k, id := range team {
			id.colleague = team[(k+1)%len(team)]
		}
	}
	return e
}

// teamCRM: team-01, team-03, ... use Salesforce; team-02, team-04, ...
// HubSpot.
func teamCRM(team string) crm {
	if n := idNumber(team); n%2 == 0 {
		return crmHubSpot
	}
	return crmSalesforce
}

// idNumber is the number after the last '-' of a generator id
// ("lead-1-42" → 42, "acc-000123" → 123).
func idNumber(id string) uint64 {
	n, _ := strconv.ParseUint(id[strings.LastIndexByte(id, '-')+1:], 10, 64)
	return n
}

// Encode renders in (an interaction from g.Next, with its key) as vendor
// records: the record that carries it, preceded or followed by noise its
// decoder must skip. The returned slice and every byte slice in it are
// valid until the next call to Encode.
func (e *VendorEncoder) Encode(in *schemas.Interaction, key []byte) []VendorRecord {
	e.n = 0
	e.seq++
	rep := e.reps[in.RepID]
	if rep == nil { // not a rep of the org: nobody's vendor identity
		e.canonical(in, key, nil)
		return e.recs[:e.n]
	}
	lead := in.LeadID != ""
	sf := rep.crm == crmSalesforce
	switch in.Type {
	case schemas.TypeLeadCreated:
		if sf {
			e.sfLead(in, key, rep)
		} else {
			e.hsContact(in, key, rep)
		}
	case schemas.TypeMessageOutbound:
		switch {
		case !lead:
			e.graph(in, key, rep)
		case sf:
			e.sfTask(in, key, rep)
		default:
			e.canonical(in, key, rep)
		}
	case schemas.TypeCallOutbound, schemas.TypeCallInbound:
		switch {
		case !lead && e.rng.IntN(2) == 0:
			e.aircall(in, key, rep)
		case !lead:
			e.twilio(in, key, rep)
		case sf:
			e.sfTask(in, key, rep)
		default:
			e.canonical(in, key, rep)
		}
	case schemas.TypeMeetingHeld:
		switch {
		case !lead:
			e.zoom(in, key, rep)
		case sf:
			e.sfEvent(in, key, rep)
		default:
			e.canonical(in, key, rep)
		}
	case schemas.TypeOpportunityStageChanged, schemas.TypeDealWon, schemas.TypeDealLost:
		if sf {
			e.sfOpportunity(in, key, rep)
		} else {
			e.hsDeal(in, key, rep)
		}
	case schemas.TypeQuoteCreated:
		if sf {
			e.sfQuoteLine(in, key, rep)
		} else {
			e.canonical(in, key, rep)
		}
	default:
		// message.inbound and social touches always concern a lead here
		// and no vendor carries both them and lead_id; approvals have no
		// vendor decoder.
		e.canonical(in, key, rep)
	}
	return e.recs[:e.n]
}

// record starts the next record, reusing the buffers of an earlier call.
func (e *VendorEncoder) record(vendor string, key []byte) *VendorRecord {
	if e.n == len(e.recs) {
		e.recs = append(e.recs, VendorRecord{})
	}
	r := &e.recs[e.n]
	e.n++
	r.Vendor = vendor
	r.Key = append(r.Key[:0], key...)
	r.Value = r.Value[:0]
	r.Expected = r.Expected[:0]
	return r
}

// want appends the interaction r's decoder must produce: the fields of in
// that the vendor carries, set by the caller afterwards.
func (e *VendorEncoder) want(r *VendorRecord, in *schemas.Interaction, source, eventID string) *schemas.Interaction {
	r.Expected = append(r.Expected, schemas.Interaction{
		EventID: eventID, Source: source, Type: in.Type, Channel: in.Type.DefaultChannel(),
		OccurredAt: in.OccurredAt, RepID: in.RepID, TeamID: in.TeamID,
	})
	return &r.Expected[len(r.Expected)-1]
}

// ---------------------------------------------------------------- canonical

// crmLead and crmAccount translate generator ids into the ids of the
// team's CRM, so canonical records of a lead pair with the CRM's
// lead.created and its Task/Event touches.
func (e *VendorEncoder) crmLead(rep *repIdent, id string) string {
	if id == "" {
		return ""
	}
	if rep.crm == crmSalesforce {
		return salesforceID("00Q", "Dn", idNumber(id))
	}
	return "hs:" + strconv.FormatUint(e.portal, 10) + ":" + strconv.FormatUint(hsContactID(id), 10)
}

func (e *VendorEncoder) crmAccount(rep *repIdent, id string) string {
	if id == "" || rep.crm != crmSalesforce {
		return id // HubSpot decoders never name accounts: keep the generator's
	}
	return salesforceID("001", "Dn", idNumber(id))
}

func hsContactID(lead string) uint64 { return 50000 + idNumber(lead) }
func hsDealID(account string) uint64 { return 9000000 + idNumber(account) }

func (e *VendorEncoder) canonical(in *schemas.Interaction, key []byte, rep *repIdent) {
	r := e.record(VendorCanonical, key)
	c := &e.canon
	attrs := c.Attributes
	*c = *in
	if rep != nil {
		c.LeadID = e.crmLead(rep, in.LeadID)
		c.AccountID = e.crmAccount(rep, in.AccountID)
	}
	if len(in.Attributes) > 0 {
		if attrs == nil {
			attrs = make(map[string]string, len(in.Attributes))
		}
		clear(attrs)
		for k, v := range in.Attributes {
			attrs[k] = v
		}
		c.Attributes = attrs
	} else {
		clear(attrs)
		c.Attributes = attrs
	}
	r.Value = schemas.AppendJSON(r.Value, c)
	if e.expect {
		w := *c
		w.Channel = c.Channel
		if w.Channel == schemas.ChannelUnknown {
			w.Channel = w.Type.DefaultChannel()
		}
		w.Attributes = nil
		if len(c.Attributes) > 0 {
			w.Attributes = make(map[string]string, len(c.Attributes))
			for k, v := range c.Attributes {
				w.Attributes[k] = v
			}
		}
		r.Expected = append(r.Expected, w)
	}
}

// ---------------------------------------------------------------- Salesforce

// sfHeader is the state shared by the records of one Salesforce
// transaction.
type sfHeader struct {
	entity, change, txKey, commitUser string
	recordID                          string
	seq                               int
	commit                            int64 // ms
	cometd                            bool
	changed                           []string // CometD changedFields of an UPDATE
}

func (e *VendorEncoder) txKey() string {
	var b [16]byte
	u, v := e.rng.Uint64(), e.rng.Uint64()
	for k := 0; k < 8; k++ {
		b[k], b[8+k] = byte(u>>(8*k)), byte(v>>(8*k))
	}
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], b[10:16])
	return string(s[:])
}

// sfOpen writes the start of a change event up to and including the comma
// after ChangeEventHeader: the CometD shape opens "payload" first.
func (e *VendorEncoder) sfOpen(b []byte, h *sfHeader) []byte {
	if h.cometd {
		b = append(b, `{"schema":"`...)
		b = append(b, sfSchemas[h.entity]...)
		b = append(b, `","payload":{`...)
	} else {
		b = append(b, '{')
	}
	b = append(b, `"ChangeEventHeader":{"entityName":`...)
	b = appendJSONString(b, h.entity)
	b = append(b, `,"recordIds":[`...)
	b = appendJSONString(b, h.recordID)
	b = append(b, `],"changeType":"`...)
	b = append(b, h.change...)
	b = append(b, `","changeOrigin":"com/salesforce/api/soap/61.0;client=SfdcInternalAPI/","transactionKey":"`...)
	b = append(b, h.txKey...)
	b = append(b, `","sequenceNumber":`...)
	b = strconv.AppendInt(b, int64(h.seq), 10)
	b = append(b, `,"commitTimestamp":`...)
	b = strconv.AppendInt(b, h.commit, 10)
	b = append(b, `,"commitNumber":`...)
	b = strconv.AppendUint(b, 1000000000000+e.seq*7, 10)
	b = append(b, `,"commitUser":`...)
	b = appendJSONString(b, h.commitUser)
	b = append(b, `,"nulledFields":[],"diffFields":[],"changedFields":[`...)
	switch {
	case h.change != "UPDATE":
	case h.cometd:
		for k, f := range h.changed {
			if k > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, f)
		}
	default:
		// Pub/Sub sends a bitmap the decoder does not decode.
		b = append(b, `"0x`...)
		b = strconv.AppendUint(b, uint64(len(h.changed))<<8|0x01, 16)
		b = append(b, '"')
	}
	return append(b, "]},"...)
}

// sfClose ends what sfOpen started: the CometD envelope carries the replay
// id.
func (e *VendorEncoder) sfClose(b []byte, h *sfHeader) []byte {
	if !h.cometd {
		return append(b, '}')
	}
	b = append(b, `},"event":{"replayId":`...)
	b = strconv.AppendUint(b, 3000000+e.seq, 10)
	return append(b, "}}"...)
}

// Schema ids the CometD envelope names (opaque to the decoder).
var sfSchemas = map[string]string{
	"Lead": "6Ghd7Kp0x6cKN3A0u0xQ2w", "Opportunity": "9tT2xGeA3a6kQm5E8u5aXQ", "Task": "1aJp0Bq4y7dLZ2b9v1pR3g",
	"Event": "4cMn2Ds6z8eNX4d1w3tT5h", "SBQQ__QuoteLine__c": "7eQr4Fu8b0gPY6f3y5vV7j",
}

func (h *sfHeader) eventID() string {
	return "sf:" + h.txKey + ":" + strconv.Itoa(h.seq) + ":" + h.recordID
}

func (e *VendorEncoder) sfNew(entity, change string, rep *repIdent, recordID string, commit int64) sfHeader {
	return sfHeader{
		entity: entity, change: change, txKey: e.txKey(), commitUser: rep.sfUser,
		recordID: recordID, seq: 1, commit: commit, cometd: e.rng.IntN(2) == 0,
	}
}

func appendStrField(b []byte, name, v string) []byte {
	b = append(b, '"')
	b = append(b, name...)
	b = append(b, `":`...)
	if v == "" {
		return append(b, "null"...)
	}
	return appendJSONString(b, v)
}

func appendNumField(b []byte, name string, v float64) []byte {
	b = append(b, '"')
	b = append(b, name...)
	b = append(b, `":`...)
	return strconv.AppendFloat(b, v, 'f', -1, 64)
}

func (e *VendorEncoder) sfLead(in *schemas.Interaction, key []byte, rep *repIdent) {
	r := e.record(VendorSalesforce, key)
	ms := in.OccurredAt.UnixMilli()
	h := e.sfNew("Lead", "CREATE", rep, e.crmLead(rep, in.LeadID), ms)
	first, last, _ := strings.Cut(in.Contact.Name, " ")
	b := e.sfOpen(r.Value, &h)
	b = append(b, `"Name":{"Salutation":null,"FirstName":`...)
	b = appendJSONString(b, first)
	b = append(b, `,"LastName":`...)
	b = appendJSONString(b, last)
	b = append(b, `},`...)
	b = appendStrField(b, "Email", in.Contact.Email)
	b = append(b, ',')
	if e.rng.IntN(4) == 0 {
		b = append(b, `"Phone":null,`...)
		b = appendStrField(b, "MobilePhone", in.Contact.Phone)
	} else {
		b = appendStrField(b, "Phone", in.Contact.Phone)
	}
	b = append(b, `,"Company":`...)
	b = appendJSONString(b, companyOf(in.Contact.Email))
	b = append(b, `,"LeadSource":"Web","Status":"Open - Not Contacted","IsConverted":false,"ConvertedAccountId":null,"ConvertedContactId":null,"ConvertedOpportunityId":null,`...)
	b = appendStrField(b, "OwnerId", rep.sfUser)
	b = append(b, `,"CreatedDate":`...)
	b = strconv.AppendInt(b, ms, 10)
	b = append(b, `,"CreatedById":`...)
	b = appendJSONString(b, rep.sfUser)
	r.Value = e.sfClose(b, &h)
	if e.expect {
		w := e.want(r, in, VendorSalesforce, h.eventID())
		w.LeadID = h.recordID
		w.Contact = in.Contact
	}
}

// companyOf derives a company name from a contact's mail domain.
func companyOf(email string) string {
	_, d, _ := strings.Cut(email, "@")
	d, _, _ = strings.Cut(d, ".")
	return d
}

// sfTask logs a call or an e-mail to a lead as a completed Task. For
// calls, the task is committed when the call ended and CompletedDateTime
// says when it took place.
func (e *VendorEncoder) sfTask(in *schemas.Interaction, key []byte, rep *repIdent) {
	r := e.record(VendorSalesforce, key)
	ms := in.OccurredAt.UnixMilli()
	commit := ms
	call := in.Type != schemas.TypeMessageOutbound
	if call {
		commit += int64(in.DurationS*1000) + int64(5000+e.rng.IntN(60000))
	}
	taskID := salesforceID("00T", "Dn", e.seq)
	h := e.sfNew("Task", "CREATE", rep, taskID, commit)
	b := e.sfOpen(r.Value, &h)
	lead := e.crmLead(rep, in.LeadID)
	acct := e.crmAccount(rep, in.AccountID)
	b = appendStrField(b, "WhoId", lead)
	b = append(b, ',')
	b = appendStrField(b, "WhatId", acct)
	b = append(b, ',')
	b = appendStrField(b, "AccountId", acct)
	b = append(b, `,"Subject":`...)
	subject := e.subject(in)
	switch {
	case !call:
		b = appendJSONString(b, "Email: "+subject)
		b = append(b, `,"TaskSubtype":"Email","CallType":null,"CallDurationInSeconds":null,"CallDisposition":null`...)
	default:
		b = appendJSONString(b, "Call: "+subject)
		b = append(b, `,"TaskSubtype":"Call","CallType":`...)
		if in.Type == schemas.TypeCallInbound {
			b = append(b, `"Inbound"`...)
		} else {
			b = append(b, `"Outbound"`...)
		}
		b = append(b, ',')
		b = appendNumField(b, "CallDurationInSeconds", in.DurationS)
		b = append(b, `,"CallDisposition":`...)
		b = appendJSONString(b, in.Attributes["outcome"])
	}
	b = append(b, `,"Status":"Completed","Priority":"Normal","IsClosed":true,`...)
	b = appendStrField(b, "OwnerId", rep.sfUser)
	b = append(b, `,"ActivityDate":`...)
	b = strconv.AppendInt(b, in.OccurredAt.Truncate(day).UnixMilli(), 10)
	if call {
		b = append(b, `,"CompletedDateTime":`...)
		b = strconv.AppendInt(b, ms, 10)
	}
	r.Value = e.sfClose(b, &h)
	if e.expect {
		w := e.want(r, in, VendorSalesforce, h.eventID())
		w.LeadID, w.AccountID = lead, acct
		if call {
			w.Has |= schemas.HasDuration
			w.DurationS = in.DurationS
		}
	}
	// Now and then the rep deletes an old task: a DELETE the decoder
	// skips.
	if e.rng.IntN(8) == 0 && e.seq > 1 {
		d := e.record(VendorSalesforce, key)
		dh := e.sfNew("Task", "DELETE", rep, salesforceID("00T", "Dn", e.seq-1-uint64(e.rng.IntN(int(min(e.seq-1, 1000))))), commit+1000)
		d.Value = e.sfClose(append(e.sfOpen(d.Value, &dh), `"OwnerId":null`...), &dh)
	}
}

// sfEvent logs a meeting with a lead after it took place, with an
// invitee copy (IsChild) for a colleague: the decoder must count the
// meeting once.
func (e *VendorEncoder) sfEvent(in *schemas.Interaction, key []byte, rep *repIdent) {
	ms := in.OccurredAt.UnixMilli()
	commit := ms + int64(in.DurationS*1000) + int64(60000+e.rng.IntN(600000))
	mins := math.Round(in.DurationS / 60)
	lead := e.crmLead(rep, in.LeadID)
	acct := e.crmAccount(rep, in.AccountID)
	subject := "Meeting: " + e.subject(in)
	h := e.sfNew("Event", "CREATE", rep, salesforceID("00U", "Dn", 2*e.seq), commit)
	h.cometd = false // invitee copies come from Pub/Sub here; both shapes are covered by other entities
	event := func(b []byte, h *sfHeader, owner string, child bool) []byte {
		b = e.sfOpen(b, h)
		b = appendStrField(b, "WhoId", lead)
		b = append(b, ',')
		b = appendStrField(b, "WhatId", acct)
		b = append(b, ',')
		b = appendStrField(b, "AccountId", acct)
		b = append(b, `,"Subject":`...)
		b = appendJSONString(b, subject)
		b = append(b, `,"Location":null,"IsAllDayEvent":false,"ActivityDateTime":`...)
		b = strconv.AppendInt(b, ms, 10)
		b = append(b, ',')
		b = appendNumField(b, "DurationInMinutes", mins)
		b = append(b, `,"Description":null,`...)
		b = appendStrField(b, "OwnerId", owner)
		b = append(b, `,"IsPrivate":false,"ShowAs":"Busy","IsChild":`...)
		b = strconv.AppendBool(b, child)
		b = append(b, `,"IsGroupEvent":true,"GroupEventType":"1"`...)
		return e.sfClose(b, h)
	}
	child := h
	child.seq = 2
	child.recordID = salesforceID("00U", "Dn", 2*e.seq+1)
	r := e.record(VendorSalesforce, key)
	if e.rng.IntN(3) == 0 {
		// A connector batch: both copies in one JSON array.
		b := append(r.Value, '[')
		b = event(b, &h, rep.sfUser, false)
		b = append(b, ',')
		r.Value = append(event(b, &child, rep.colleague.sfUser, true), ']')
	} else {
		r.Value = event(r.Value, &h, rep.sfUser, false)
		c := e.record(VendorSalesforce, key)
		c.Value = event(c.Value, &child, rep.colleague.sfUser, true)
	}
	if e.expect {
		w := e.want(r, in, VendorSalesforce, h.eventID())
		w.LeadID, w.AccountID = lead, acct
		w.Has |= schemas.HasDuration
		w.DurationS = mins * 60
	}
}

// sfOpportunity is a stage change on an opportunity, enriched with
// OwnerId, AccountId, Amount and CurrencyIsoCode as docs/sources.md
// recommends. Now and then an update of another field comes first: the
// decoder must skip it.
func (e *VendorEncoder) sfOpportunity(in *schemas.Interaction, key []byte, rep *repIdent) {
	ms := in.OccurredAt.UnixMilli()
	oppID := salesforceID("006", "Dn", idNumber(in.AccountID))
	acct := e.crmAccount(rep, in.AccountID)
	stage := sfStages[in.Stage]
	body := func(b []byte, h *sfHeader, withStage bool) []byte {
		b = e.sfOpen(b, h)
		if withStage {
			b = appendStrField(b, "StageName", stage)
			b = append(b, ',')
		} else if h.cometd {
			// CometD enrichment carries the unchanged stage; only
			// changedFields says it did not change.
			b = appendStrField(b, "StageName", stage)
			b = append(b, `,"Probability":35,`...)
		} else {
			b = append(b, `"StageName":null,"Probability":35,`...)
		}
		if withStage && (in.Type == schemas.TypeDealWon || in.Type == schemas.TypeDealLost) {
			b = append(b, `"IsClosed":true,"IsWon":`...)
			b = strconv.AppendBool(b, in.Type == schemas.TypeDealWon)
			b = append(b, ',')
		} else if !h.cometd {
			b = append(b, `"IsClosed":null,"IsWon":null,`...)
		}
		b = appendStrField(b, "OwnerId", rep.sfUser)
		b = append(b, ',')
		b = appendStrField(b, "AccountId", acct)
		if in.Has&schemas.HasAmount != 0 {
			b = append(b, ',')
			b = appendNumField(b, "Amount", in.Amount)
		} else if !h.cometd {
			b = append(b, `,"Amount":null`...)
		}
		if in.Currency != "" {
			b = append(b, ',')
			b = appendStrField(b, "CurrencyIsoCode", in.Currency)
		}
		b = append(b, `,"LastModifiedDate":`...)
		b = strconv.AppendInt(b, h.commit, 10)
		return e.sfClose(b, h)
	}
	if e.rng.IntN(6) == 0 {
		n := e.record(VendorSalesforce, key)
		nh := e.sfNew("Opportunity", "UPDATE", rep, oppID, ms-int64(1000+e.rng.IntN(60000)))
		nh.changed = []string{"Probability", "LastModifiedDate"}
		n.Value = body(n.Value, &nh, false)
	}
	r := e.record(VendorSalesforce, key)
	h := e.sfNew("Opportunity", "UPDATE", rep, oppID, ms)
	h.changed = []string{"StageName", "LastModifiedDate"}
	if in.Type != schemas.TypeOpportunityStageChanged {
		h.changed = []string{"StageName", "IsClosed", "IsWon", "LastModifiedDate"}
	}
	r.Value = body(r.Value, &h, true)
	if e.expect {
		w := e.want(r, in, VendorSalesforce, h.eventID())
		w.Stage, w.AccountID, w.Currency = stage, acct, in.Currency
		if in.Has&schemas.HasAmount != 0 {
			w.Has |= schemas.HasAmount
			w.Amount = in.Amount
		}
	}
}

// sfQuoteLine is a CPQ quote line CREATE committed by the rep.
func (e *VendorEncoder) sfQuoteLine(in *schemas.Interaction, key []byte, rep *repIdent) {
	r := e.record(VendorSalesforce, key)
	h := e.sfNew("SBQQ__QuoteLine__c", "CREATE", rep, salesforceID("a0C", "Dn", e.seq), in.OccurredAt.UnixMilli())
	b := e.sfOpen(r.Value, &h)
	b = appendStrField(b, "SBQQ__Quote__c", salesforceID("a0B", "Dn", e.seq))
	b = append(b, `,"SBQQ__Product__c":"01tDn0000001AbCQAU","SBQQ__Quantity__c":1,`...)
	b = appendNumField(b, "SBQQ__ListPrice__c", in.ListPrice)
	b = append(b, ',')
	b = appendNumField(b, "SBQQ__RegularPrice__c", in.ListPrice)
	b = append(b, ',')
	b = appendNumField(b, "SBQQ__CustomerPrice__c", in.Amount)
	b = append(b, ',')
	b = appendNumField(b, "SBQQ__NetPrice__c", in.Amount)
	b = append(b, ',')
	b = appendNumField(b, "SBQQ__NetTotal__c", in.Amount)
	b = append(b, ',')
	b = appendNumField(b, "SBQQ__Discount__c", in.DiscountPct)
	b = append(b, `,"SBQQ__AdditionalDiscountAmount__c":null,`...)
	b = appendStrField(b, "CurrencyIsoCode", in.Currency)
	r.Value = e.sfClose(b, &h)
	if e.expect {
		w := e.want(r, in, VendorSalesforce, h.eventID())
		w.Currency = in.Currency
		w.Has = schemas.HasAmount | schemas.HasListPrice | schemas.HasDiscount
		w.Amount, w.ListPrice, w.DiscountPct = in.Amount, in.ListPrice, in.DiscountPct
	}
}

// ------------------------------------------------------------------ HubSpot

const (
	hsSubContactCreation = 1101
	hsSubContactProperty = 1102
	hsSubDealStage       = 1103
	hsSubDealOwner       = 1104
	hsSubDealCreation    = 1105
)

func (e *VendorEncoder) hsEvent(b []byte, sub int, typ string, obj uint64, ms int64, rep *repIdent, prop, value string) ([]byte, string) {
	eventID := 100000000 + e.seq*8 + uint64(e.rng.IntN(8))
	b = append(b, `{"eventId":`...)
	b = strconv.AppendUint(b, eventID, 10)
	b = append(b, `,"subscriptionId":`...)
	b = strconv.AppendInt(b, int64(sub), 10)
	b = append(b, `,"portalId":`...)
	b = strconv.AppendUint(b, e.portal, 10)
	b = append(b, `,"appId":1160452,"occurredAt":`...)
	b = strconv.AppendInt(b, ms, 10)
	b = append(b, `,"subscriptionType":"`...)
	b = append(b, typ...)
	b = append(b, `","attemptNumber":0,"objectId":`...)
	b = strconv.AppendUint(b, obj, 10)
	if prop != "" {
		b = append(b, `,"propertyName":`...)
		b = appendJSONString(b, prop)
		b = append(b, `,"propertyValue":`...)
		b = appendJSONString(b, value)
	}
	b = append(b, `,"changeSource":"CRM_UI","sourceId":"userId:`...)
	b = append(b, rep.hsUser...)
	b = append(b, `"}`...)
	id := "hs:" + strconv.FormatUint(e.portal, 10) + ":" + strconv.Itoa(sub) + ":" + strconv.FormatUint(eventID, 10)
	return b, id
}

// hsContact is a contact.creation, sometimes in one POST body with a
// property change the decoder skips.
func (e *VendorEncoder) hsContact(in *schemas.Interaction, key []byte, rep *repIdent) {
	r := e.record(VendorHubSpot, key)
	ms := in.OccurredAt.UnixMilli()
	obj := hsContactID(in.LeadID)
	b := append(r.Value, '[')
	b, id := e.hsEvent(b, hsSubContactCreation, "contact.creation", obj, ms, rep, "", "")
	if e.rng.IntN(2) == 0 {
		b = append(b, ',')
		b, _ = e.hsEvent(b, hsSubContactProperty, "contact.propertyChange", obj, ms, rep, "lifecyclestage", "lead")
	}
	r.Value = append(b, ']')
	if e.expect {
		w := e.want(r, in, VendorHubSpot, id)
		w.LeadID = e.crmLead(rep, in.LeadID)
	}
}

// hsDeal is a dealstage property change; sometimes the body also holds a
// deal.creation or an owner change, both skipped.
func (e *VendorEncoder) hsDeal(in *schemas.Interaction, key []byte, rep *repIdent) {
	r := e.record(VendorHubSpot, key)
	ms := in.OccurredAt.UnixMilli()
	obj := hsDealID(in.AccountID)
	stage := hsStages[in.Stage]
	b := append(r.Value, '[')
	switch e.rng.IntN(4) {
	case 0:
		b, _ = e.hsEvent(b, hsSubDealCreation, "deal.creation", obj, ms, rep, "", "")
		b = append(b, ',')
	case 1:
		b, _ = e.hsEvent(b, hsSubDealOwner, "deal.propertyChange", obj, ms, rep, "hubspot_owner_id", rep.hsUser)
		b = append(b, ',')
	}
	b, id := e.hsEvent(b, hsSubDealStage, "deal.propertyChange", obj, ms, rep, "dealstage", stage)
	r.Value = append(b, ']')
	if e.rng.IntN(5) == 0 {
		// A body of skipped events only: the deal changes hands.
		o := e.record(VendorHubSpot, key)
		b := append(o.Value, '[')
		b, _ = e.hsEvent(b, hsSubDealOwner, "deal.propertyChange", obj, ms+int64(1000+e.rng.IntN(60000)), rep, "hubspot_owner_id", rep.colleague.hsUser)
		o.Value = append(b, ']')
	}
	if e.expect {
		w := e.want(r, in, VendorHubSpot, id)
		w.Stage = stage
	}
}

// --------------------------------------------------------------------- Zoom

func (e *VendorEncoder) zoomUUID() string {
	var b [16]byte
	u, v := e.rng.Uint64(), e.rng.Uint64()
	for k := 0; k < 8; k++ {
		b[k], b[8+k] = byte(u>>(8*k)), byte(v>>(8*k))
	}
	return base64.StdEncoding.EncodeToString(b[:])
}

// zoom renders a meeting as Zoom sends it: meeting.started, a participant
// joining (both skipped), then meeting.ended, which carries the
// participants half of the time.
func (e *VendorEncoder) zoom(in *schemas.Interaction, key []byte, rep *repIdent) {
	start := in.OccurredAt.Truncate(time.Second)
	end := start.Add(time.Duration(in.DurationS) * time.Second)
	uuid := e.zoomUUID()
	meetingID := 80000000000 + e.seq
	topic := "Demo: " + e.subject(in)
	participants := e.rng.IntN(2) == 0
	obj := func(b []byte, ended bool) []byte {
		b = append(b, `"object":{"uuid":`...)
		b = appendJSONString(b, uuid)
		b = append(b, `,"id":"`...)
		b = strconv.AppendUint(b, meetingID, 10)
		b = append(b, `","host_id":`...)
		b = appendJSONString(b, rep.zoomUser)
		b = append(b, `,"topic":`...)
		b = appendJSONString(b, topic)
		b = append(b, `,"type":2,"start_time":"`...)
		b = start.AppendFormat(b, "2006-01-02T15:04:05Z")
		b = append(b, `","duration":`...)
		b = strconv.AppendInt(b, int64(math.Round(in.DurationS/60/15)*15), 10) // scheduled
		b = append(b, `,"timezone":"UTC"`...)
		if ended {
			b = append(b, `,"end_time":"`...)
			b = end.AppendFormat(b, "2006-01-02T15:04:05Z")
			b = append(b, '"')
			if participants {
				b = append(b, `,"participants":[{"id":`...)
				b = appendJSONString(b, rep.zoomUser)
				b = append(b, `,"user_name":`...)
				b = appendJSONString(b, rep.name)
				b = append(b, `,"email":`...)
				b = appendJSONString(b, rep.mailbox)
				b = append(b, `},{"id":"","user_name":`...)
				b = appendJSONString(b, in.Contact.Name)
				b = append(b, `,"email":`...)
				b = appendJSONString(b, in.Contact.Email)
				b = append(b, `}]`...)
			}
		}
		return append(b, '}')
	}
	head := func(b []byte, event string, ts time.Time) []byte {
		b = append(b, `{"event":"`...)
		b = append(b, event...)
		b = append(b, `","event_ts":`...)
		b = strconv.AppendInt(b, ts.UnixMilli(), 10)
		return append(b, `,"payload":{"account_id":"o8KK_AAACq6BBEyA70CA",`...)
	}
	s := e.record(VendorZoom, key)
	s.Value = append(obj(head(s.Value, "meeting.started", start), false), "}}"...)
	if e.rng.IntN(2) == 0 {
		p := e.record(VendorZoom, key)
		b := head(p.Value, "meeting.participant_joined", start.Add(90*time.Second))
		b = append(b, `"object":{"uuid":`...)
		b = appendJSONString(b, uuid)
		b = append(b, `,"id":"`...)
		b = strconv.AppendUint(b, meetingID, 10)
		b = append(b, `","host_id":`...)
		b = appendJSONString(b, rep.zoomUser)
		b = append(b, `,"participant":{"user_id":"16778240","user_name":`...)
		b = appendJSONString(b, in.Contact.Name)
		b = append(b, `,"email":`...)
		b = appendJSONString(b, in.Contact.Email)
		b = append(b, `,"join_time":"`...)
		b = start.Add(90*time.Second).AppendFormat(b, "2006-01-02T15:04:05Z")
		p.Value = append(b, `"}}}}`...)
	}
	r := e.record(VendorZoom, key)
	r.Value = append(obj(head(r.Value, "meeting.ended", end), true), "}}"...)
	if e.expect {
		w := e.want(r, in, VendorZoom, "zoom:"+uuid)
		w.OccurredAt = start
		w.Has |= schemas.HasDuration
		w.DurationS = end.Sub(start).Seconds()
		if participants {
			w.Contact = schemas.Contact{Email: in.Contact.Email, Name: in.Contact.Name}
		}
	}
}

// -------------------------------------------------------------------- Graph

// graph renders an outbound mail as the message resource a connector
// fetches from the rep's mailbox: sometimes preceded by the change
// notification that announced it, sometimes as a one-message delta page;
// now and then a colleague gets an internal mail (skipped).
func (e *VendorEncoder) graph(in *schemas.Interaction, key []byte, rep *repIdent) {
	sent := in.OccurredAt.Truncate(time.Second)
	msgID := "AAMkAGI2TG93AAA=" + strconv.FormatUint(e.seq, 36)
	if e.rng.IntN(3) == 0 {
		n := e.record(VendorGraph, key)
		b := append(n.Value, `{"value":[{"subscriptionId":"7f105c7d-2dc5-4530-97cd-4e7ae6534c07","subscriptionExpirationDateTime":"2026-12-30T18:23:45.9356913Z","changeType":"created","resource":"Users/`...)
		b = append(b, rep.mailbox...)
		b = append(b, `/Messages/`...)
		b = append(b, msgID...)
		b = append(b, `","resourceData":{"@odata.type":"#Microsoft.Graph.Message","@odata.id":"Users/`...)
		b = append(b, rep.mailbox...)
		b = append(b, `/Messages/`...)
		b = append(b, msgID...)
		b = append(b, `","id":"`...)
		b = append(b, msgID...)
		n.Value = append(b, `"},"clientState":"secretClientValue","tenantId":"84bd8158-6d4d-4958-8b9f-9d6445542f95"}]}`...)
	}
	imid := "<" + strconv.FormatUint(e.seq, 10) + "." + e.seed + "@" + MailDomain + ">"
	subject := e.subject(in)
	r := e.record(VendorGraph, key)
	page := e.rng.IntN(4) == 0
	b := r.Value
	if page {
		b = append(b, `{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#Collection(message)","value":[`...)
	}
	b = e.graphMessage(b, msgID, imid, subject, sent, rep.name, rep.mailbox, in.Contact.Name, in.Contact.Email)
	if page {
		b = append(b, `],"@odata.deltaLink":"https://graph.microsoft.com/v1.0/me/mailFolders('sentitems')/messages/delta?$deltatoken=`...)
		b = strconv.AppendUint(b, e.seq, 36)
		b = append(b, `"}`...)
	}
	r.Value = b
	if e.expect {
		w := e.want(r, in, VendorGraph, graphEventID(imid, in.Type))
		w.OccurredAt = sent
		w.Contact = schemas.Contact{Email: in.Contact.Email, Name: in.Contact.Name}
	}
	if e.rng.IntN(10) == 0 && rep.colleague != rep {
		c := rep.colleague
		m := e.record(VendorGraph, key)
		m.Value = e.graphMessage(m.Value, msgID+"i", "<i"+strconv.FormatUint(e.seq, 10)+"."+e.seed+"@"+MailDomain+">",
			"Handover: "+subject, sent, rep.name, rep.mailbox, c.name, c.mailbox)
	}
}

func (e *VendorEncoder) graphMessage(b []byte, id, imid, subject string, sent time.Time, fromName, fromAddr, toName, toAddr string) []byte {
	addr := func(b []byte, name, address string) []byte {
		b = append(b, `{"emailAddress":{"name":`...)
		b = appendJSONString(b, name)
		b = append(b, `,"address":`...)
		b = appendJSONString(b, address)
		return append(b, "}}"...)
	}
	b = append(b, `{"@odata.etag":"W/\"CQAAABYAAAAiIsqMbYjsT5e/T7KzowPTAAAAAAJ\"","id":"`...)
	b = append(b, id...)
	b = append(b, `","createdDateTime":"`...)
	b = sent.AppendFormat(b, "2006-01-02T15:04:05Z")
	b = append(b, `","sentDateTime":"`...)
	b = sent.AppendFormat(b, "2006-01-02T15:04:05Z")
	b = append(b, `","receivedDateTime":"`...)
	b = sent.Add(time.Second).AppendFormat(b, "2006-01-02T15:04:05Z")
	b = append(b, `","hasAttachments":false,"internetMessageId":`...)
	b = appendJSONString(b, imid)
	b = append(b, `,"subject":`...)
	b = appendJSONString(b, subject)
	b = append(b, `,"importance":"normal","conversationId":"AAQkAGI2TG93`...)
	b = strconv.AppendUint(b, e.seq, 36)
	b = append(b, `","isRead":true,"isDraft":false,"from":`...)
	b = addr(b, fromName, fromAddr)
	b = append(b, `,"sender":`...)
	b = addr(b, fromName, fromAddr)
	b = append(b, `,"toRecipients":[`...)
	b = addr(b, toName, toAddr)
	return append(b, `],"ccRecipients":[],"bccRecipients":[]}`...)
}

func graphEventID(imid string, t schemas.Type) string {
	h := sha256.New()
	h.Write([]byte("imid\x00" + imid + "\x00" + t.String()))
	return "graph:" + hex.EncodeToString(h.Sum(nil)[:16])
}

// ------------------------------------------------------------------ Aircall

// aircall renders a call as call.created (skipped), sometimes
// call.answered (skipped) and call.ended.
func (e *VendorEncoder) aircall(in *schemas.Interaction, key []byte, rep *repIdent) {
	start := in.OccurredAt.Truncate(time.Second)
	dur := int64(in.DurationS)
	answered := in.Attributes["outcome"] != "no_answer" && in.Type == schemas.TypeCallOutbound
	id := 900000000 + e.seq
	first, last, _ := strings.Cut(in.Contact.Name, " ")
	withContact := e.rng.IntN(2) == 0
	dir := "outbound"
	if in.Type == schemas.TypeCallInbound {
		dir = "inbound"
	}
	body := func(b []byte, event, status string, ts int64, final bool) []byte {
		b = append(b, `{"resource":"call","event":"`...)
		b = append(b, event...)
		b = append(b, `","timestamp":`...)
		b = strconv.AppendInt(b, ts, 10)
		b = append(b, `,"token":"df76g76dpziygs567f0","data":{"id":`...)
		b = strconv.AppendUint(b, id, 10)
		b = append(b, `,"direct_link":"https://api.aircall.io/v1/calls/`...)
		b = strconv.AppendUint(b, id, 10)
		b = append(b, `","direction":"`...)
		b = append(b, dir...)
		b = append(b, `","status":"`...)
		b = append(b, status...)
		b = append(b, `","missed_call_reason":null,"started_at":`...)
		b = strconv.AppendInt(b, start.Unix(), 10)
		b = append(b, `,"answered_at":`...)
		if answered && (final || status == "answered") {
			b = strconv.AppendInt(b, start.Unix()+min(dur, 4), 10)
		} else {
			b = append(b, "null"...)
		}
		b = append(b, `,"ended_at":`...)
		if final {
			b = strconv.AppendInt(b, start.Unix()+dur, 10)
			b = append(b, `,"duration":`...)
			b = strconv.AppendInt(b, dur, 10)
		} else {
			b = append(b, `null,"duration":0`...)
		}
		b = append(b, `,"raw_digits":`...)
		b = appendJSONString(b, formatNANP(in.Contact.Phone))
		b = append(b, `,"user":{"id":`...)
		b = append(b, rep.aircallUser...)
		b = append(b, `,"name":`...)
		b = appendJSONString(b, rep.name)
		b = append(b, `,"email":`...)
		b = appendJSONString(b, rep.mailbox)
		b = append(b, `},"contact":`...)
		if withContact {
			b = append(b, `{"id":`...)
			b = strconv.AppendUint(b, 7000000+e.seq, 10)
			b = append(b, `,"first_name":`...)
			b = appendJSONString(b, first)
			b = append(b, `,"last_name":`...)
			b = appendJSONString(b, last)
			b = append(b, `,"company_name":null,"emails":[]}`...)
		} else {
			b = append(b, "null"...)
		}
		return append(b, "}}"...)
	}
	c := e.record(VendorAircall, key)
	c.Value = body(c.Value, "call.created", "initial", start.Unix(), false)
	if answered && e.rng.IntN(2) == 0 {
		a := e.record(VendorAircall, key)
		a.Value = body(a.Value, "call.answered", "answered", start.Unix()+min(dur, 4), false)
	}
	r := e.record(VendorAircall, key)
	r.Value = body(r.Value, "call.ended", "done", start.Unix()+dur+30, true)
	if e.expect {
		w := e.want(r, in, VendorAircall, "aircall:"+strconv.FormatUint(id, 10))
		w.OccurredAt = start
		w.Has |= schemas.HasDuration
		w.DurationS = float64(dur)
		w.Contact.Phone = in.Contact.Phone
		if withContact {
			w.Contact.Name = in.Contact.Name
		}
	}
}

// formatNANP renders +12015550123 as Aircall shows it: "+1 201-555-0123".
func formatNANP(p string) string {
	if len(p) != 12 || !strings.HasPrefix(p, "+1") {
		return p
	}
	return "+1 " + p[2:5] + "-" + p[5:8] + "-" + p[8:]
}

// ------------------------------------------------------------------- Twilio

// twilio renders a call as the call resource (JSON) or as form-encoded
// status callbacks: progress callbacks (skipped) and the final one.
func (e *VendorEncoder) twilio(in *schemas.Interaction, key []byte, rep *repIdent) {
	start := in.OccurredAt.Truncate(time.Second)
	dur := int64(in.DurationS)
	end := start.Add(time.Duration(dur) * time.Second)
	var sidb [34]byte
	copy(sidb[:], "CA")
	u, v := e.rng.Uint64(), e.rng.Uint64()
	for k := 0; k < 8; k++ {
		sidb[2+2*k] = hexDigits[byte(u>>(8*k))>>4]
		sidb[3+2*k] = hexDigits[byte(u>>(8*k))&15]
		sidb[18+2*k] = hexDigits[byte(v>>(8*k))>>4]
		sidb[19+2*k] = hexDigits[byte(v>>(8*k))&15]
	}
	sid := string(sidb[:])
	status := "completed"
	if in.Attributes["outcome"] == "no_answer" {
		status = "no-answer"
	}
	from, to, dir := rep.phone, in.Contact.Phone, "outbound-api"
	if in.Type == schemas.TypeCallInbound {
		from, to, dir = in.Contact.Phone, rep.phone, "inbound"
	}
	var r *VendorRecord
	if e.rng.IntN(2) == 0 {
		r = e.record(VendorTwilio, key)
		b := append(r.Value, `{"sid":"`...)
		b = append(b, sid...)
		b = append(b, `","account_sid":"ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX","date_created":"`...)
		b = appendRFC2822(b, start.Add(-2*time.Second))
		b = append(b, `","date_updated":"`...)
		b = appendRFC2822(b, end.Add(time.Second))
		b = append(b, `","parent_call_sid":null,"to":`...)
		b = appendJSONString(b, to)
		b = append(b, `,"from":`...)
		b = appendJSONString(b, from)
		b = append(b, `,"status":"`...)
		b = append(b, status...)
		b = append(b, `","start_time":"`...)
		b = appendRFC2822(b, start)
		b = append(b, `","end_time":"`...)
		b = appendRFC2822(b, end)
		b = append(b, `","duration":"`...)
		b = strconv.AppendInt(b, dur, 10)
		b = append(b, `","price":"-0.01300","price_unit":"USD","direction":"`...)
		b = append(b, dir...)
		b = append(b, `","answered_by":null,"api_version":"2010-04-01","forwarded_from":null,"caller_name":null,"uri":"/2010-04-01/Accounts/ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX/Calls/`...)
		b = append(b, sid...)
		r.Value = append(b, `.json"}`...)
	} else {
		form := func(b []byte, status string, ts time.Time, seq int, final bool) []byte {
			b = append(b, "AccountSid=ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX&ApiVersion=2010-04-01&CallSid="...)
			b = append(b, sid...)
			b = append(b, "&CallStatus="...)
			b = append(b, status...)
			if final {
				b = append(b, "&CallDuration="...)
				b = strconv.AppendInt(b, dur, 10)
			}
			b = append(b, "&Called="...)
			b = appendQueryEscape(b, to)
			b = append(b, "&Caller="...)
			b = appendQueryEscape(b, from)
			b = append(b, "&Direction="...)
			b = append(b, dir...)
			b = append(b, "&From="...)
			b = appendQueryEscape(b, from)
			b = append(b, "&To="...)
			b = appendQueryEscape(b, to)
			b = append(b, "&Timestamp="...)
			var tb [40]byte
			b = appendQueryEscape(b, string(appendRFC2822(tb[:0], ts)))
			b = append(b, "&CallbackSource=call-progress-events&SequenceNumber="...)
			return strconv.AppendInt(b, int64(seq), 10)
		}
		p := e.record(VendorTwilio, key)
		p.Value = form(p.Value, "ringing", start, 1, false)
		if status == "completed" && e.rng.IntN(2) == 0 {
			q := e.record(VendorTwilio, key)
			q.Value = form(q.Value, "in-progress", start.Add(3*time.Second), 2, false)
		}
		r = e.record(VendorTwilio, key)
		r.Value = form(r.Value, status, end, 3, true)
	}
	if e.expect {
		w := e.want(r, in, VendorTwilio, "twilio:"+sid)
		w.OccurredAt = start
		w.Has |= schemas.HasDuration
		w.DurationS = float64(dur)
		w.Contact.Phone = in.Contact.Phone
	}
}

const hexDigits = "0123456789abcdef"

func appendRFC2822(b []byte, t time.Time) []byte {
	return t.UTC().AppendFormat(b, "Mon, 02 Jan 2006 15:04:05 +0000")
}

// appendQueryEscape form-encodes s (url.QueryEscape without allocating).
func appendQueryEscape(b []byte, s string) []byte {
	for k := 0; k < len(s); k++ {
		c := s[k]
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~':
			b = append(b, c)
		case c == ' ':
			b = append(b, '+')
		default:
			b = append(b, '%', "0123456789ABCDEF"[c>>4], "0123456789ABCDEF"[c&15])
		}
	}
	return b
}

// ------------------------------------------------------------------- shared

var subjectTopics = [...]string{"pricing", "next steps", "your evaluation", "the proposal", "onboarding", "the renewal", "our call", "integration questions"}

// subject is mail/meeting free text naming the contact, as real subjects
// do: personal data the privacy stage must keep out of ClickHouse.
func (e *VendorEncoder) subject(in *schemas.Interaction) string {
	t := subjectTopics[e.rng.IntN(len(subjectTopics))]
	if in.Contact.Name == "" {
		return "About " + t
	}
	return "About " + t + ", " + in.Contact.Name
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for k := 0; k < len(s); k++ {
		c := s[k]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:k]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\t':
			b = append(b, '\\', 't')
		case '\r':
			b = append(b, '\\', 'r')
		default:
			b = append(b, `\u00`...)
			b = append(b, hexDigits[c>>4], hexDigits[c&15])
		}
		start = k + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
