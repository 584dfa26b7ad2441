package salesforce

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/vendorkit"
)

// Salesforce id key prefixes the mapping looks at.
const (
	prefixAccount     = "001"
	prefixLead        = "00Q"
	prefixOpportunity = "006"
)

// lead maps a Lead change. CREATE is lead.created, with the lead's e-mail,
// phone, mobile and country (the lead's identities, see identity). An
// UPDATE that converts the lead (IsConverted set to true) is
// lead.converted, carrying the new opportunity's id so the two join; it is
// no stage change: the Opportunity CREATE of the same transaction is the
// conversion's one stage fact (its first stage, see opportunity), and the
// Account event is skipped (the Contact event teaches the contact's
// identities, see contact). Any other UPDATE that sets Email, Phone or
// MobilePhone is lead.updated (see identity); the rest are skipped.
//
// The rep of a conversion or an update is OwnerId, which an UPDATE carries
// only when the owner changed with it; otherwise the user who committed
// the change (commitUser), the only person the event names (see credit).
func (d *Decoder) lead(s *scratch, c *change, it *schemas.Interaction, id string) (string, error) {
	r := c.rec
	if c.create {
		it.Type = schemas.TypeLeadCreated
		it.LeadID = strings.Clone(id)
		if err := d.owner(s, it, c.path+"OwnerId", r.OwnerID, false); err != nil {
			return "", err
		}
		d.identities(s, c, it, &r.Address)
		it.Contact.Name = d.name(s, r.Name)
		if r.LeadSource != "" {
			vendorkit.SetAttr(it, "lead_source", s.intern.String(r.LeadSource))
		}
		if r.Status != "" {
			vendorkit.SetAttr(it, "sf_status", s.intern.String(r.Status))
		}
		return "", nil
	}
	conv, present, err := boolean(c.path+"IsConverted", r.IsConverted)
	if err != nil {
		return "", err
	}
	if !conv || !c.changed("IsConverted", present) {
		return d.identity(s, c, it, id, &r.Address)
	}
	it.Type = schemas.TypeLeadConverted
	it.LeadID = strings.Clone(id)
	if it.AccountID, err = d.id(c.path, "ConvertedAccountId", r.ConvertedAccountID); err != nil {
		return "", err
	}
	opp, err := d.id(c.path, "ConvertedOpportunityId", r.ConvertedOpportunityID)
	if err != nil {
		return "", err
	}
	if opp != "" {
		vendorkit.SetAttr(it, "opportunity_id", opp)
	}
	contact, err := d.id(c.path, "ConvertedContactId", r.ConvertedContactID)
	if err != nil {
		return "", err
	}
	if contact != "" {
		vendorkit.SetAttr(it, "sf_contact_id", contact)
	}
	return "", d.credit(s, c, it)
}

// contact maps a Contact CREATE or UPDATE that sets Email, Phone or
// MobilePhone to lead.updated: lead_id is the contact's record id, taken as
// is like a Lead's, account_id its AccountId, and Customer set. A contact
// is an existing customer, not a lead: once lead resolution has learnt its
// identities, calls, mails and meetings with it resolve to it, carry
// Customer, and neither open nor answer a response clock. A lead conversion
// creates the contact in the same transaction: from the conversion on, the
// converted lead's e-mail and phone resolve to the contact. Other Contact
// changes are not interactions.
func (d *Decoder) contact(s *scratch, c *change, it *schemas.Interaction, id string) (string, error) {
	var err error
	if it.AccountID, err = d.id(c.path, "AccountId", c.rec.AccountID); err != nil {
		return "", err
	}
	skip, err := d.identity(s, c, it, id, &c.rec.MailingAddress)
	if skip != "" && c.create {
		skip = skipEntity
	}
	it.Customer = true
	return skip, err
}

// identity maps a change of a Lead's or Contact's Email, Phone or
// MobilePhone (all present, non-null values are kept, changed or not: an
// enriched CometD event's unchanged e-mail is still the record's) to
// lead.updated with lead_id = the record id, credited as a conversion is.
// A cleared field arrives as null and teaches no identity: a change that
// only clears them is skipped, and lead resolution keeps what it learnt
// before (Salesforce says nothing about which lead held the old value).
func (d *Decoder) identity(s *scratch, c *change, it *schemas.Interaction, id string, addr *address) (string, error) {
	r := c.rec
	if !c.changed("Email", r.Email != "") && !c.changed("Phone", r.Phone != "") && !c.changed("MobilePhone", r.MobilePhone != "") {
		return skipNoChange, nil
	}
	d.identities(s, c, it, addr)
	if it.Contact.Email == "" && it.Contact.Phone == "" && it.Contact.Mobile == "" {
		return skipNoChange, nil // cleared
	}
	it.Type = schemas.TypeLeadUpdated
	it.LeadID = strings.Clone(id)
	return "", d.credit(s, c, it)
}

// identities fills the contact's e-mail, phone, mobile and country. Phone
// numbers are taken as entered (often national, "(201) 555-0123"):
// privacy turns them into E.164 with Country as the default region. An
// UPDATE carries the address only when it changed (Pub/Sub: unchanged
// fields are null), so the country of an updated number is often unknown
// here and the team's country applies.
func (d *Decoder) identities(s *scratch, c *change, it *schemas.Interaction, addr *address) {
	r := c.rec
	it.Contact.Email = strings.Clone(r.Email)
	it.Contact.Phone = strings.Clone(r.Phone)
	it.Contact.Mobile = strings.Clone(r.MobilePhone)
	it.Contact.Country = country(s, addr.CountryCode, r.CountryCode, addr.Country, r.Country)
}

// country returns the first of vs that is an ISO 3166-1 alpha-2 code,
// upper-cased: CountryCode (picklists on) comes first; Country counts only
// when it is itself a 2-letter code, because a name ("Deutschland",
// "United States") would need a lookup table that guesses.
func country(s *scratch, vs ...string) string {
	for _, v := range vs {
		if len(v) == 2 && letter(v[0]) && letter(v[1]) {
			if v[0] >= 'a' || v[1] >= 'a' {
				v = strings.ToUpper(v)
			}
			return s.intern.String(v)
		}
	}
	return ""
}

// credit sets the rep of an UPDATE: OwnerId when the event carries it (the
// owner changed with it), else the rep of the user who committed it,
// marked sf_rep_source=commit_user. An unknown committer leaves it
// uncredited (the user id stays in sf_commit_user).
func (d *Decoder) credit(s *scratch, c *change, it *schemas.Interaction) error {
	r := c.rec
	if r.OwnerID == "" && r.Header.CommitUser != "" {
		// Validated as an id by change.
		if rep := d.idx.RepFor(schemas.IdentSalesforce, r.Header.CommitUser); rep != "" {
			it.RepID = rep
			it.TeamID = d.idx.TeamOf(rep)
			vendorkit.SetAttr(it, "sf_rep_source", "commit_user")
		}
		return nil
	}
	return d.owner(s, it, c.path+"OwnerId", r.OwnerID, false)
}

// name renders the Lead Name: a compound {FirstName, LastName, ...} in
// change events, a plain string in other shapes.
func (d *Decoder) name(s *scratch, raw json.RawMessage) string {
	if vendorkit.Null(raw) {
		return ""
	}
	switch raw[0] {
	case '"':
		var v string
		if json.Unmarshal(raw, &v) != nil {
			return ""
		}
		return v
	case '{':
		s.name = compoundName{}
		if _, err := json.Parse(raw, &s.name, parseFlags); err != nil {
			return ""
		}
		n := s.name
		var b strings.Builder
		for _, p := range [...]string{n.Salutation, n.FirstName, n.MiddleName, n.LastName, n.Suffix} {
			if p == "" {
				continue
			}
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(p)
		}
		return b.String()
	}
	return ""
}

// opportunity maps a change that sets StageName: deal.won / deal.lost for
// the configured closed stages (or IsWon), opportunity.stage_changed for the
// others. Changes that leave the stage alone are skipped.
//
// A CREATE is the opportunity entering its first stage: one stage fact,
// whether a rep created it or a lead conversion did (the conversion itself
// is the Lead UPDATE's lead.converted, which names this opportunity).
func (d *Decoder) opportunity(s *scratch, c *change, it *schemas.Interaction, id string) (string, error) {
	r := c.rec
	if r.StageName == "" {
		if c.create {
			return "", schemas.Invalid(Source, c.path+"StageName", "", "required on an Opportunity CREATE")
		}
		return skipNoChange, nil
	}
	if !c.changed("StageName", true) {
		return skipNoChange, nil
	}
	won, wonSet, err := boolean(c.path+"IsWon", r.IsWon)
	if err != nil {
		return "", err
	}
	closed, _, err := boolean(c.path+"IsClosed", r.IsClosed)
	if err != nil {
		return "", err
	}
	switch {
	case slices.Contains(d.cfg.WonStages, r.StageName) || won:
		it.Type = schemas.TypeDealWon
	case slices.Contains(d.cfg.LostStages, r.StageName) || closed && wonSet && !won:
		it.Type = schemas.TypeDealLost
	default:
		it.Type = schemas.TypeOpportunityStageChanged
	}
	it.Stage = s.intern.String(r.StageName)
	if it.Amount, _, err = number(c.path+"Amount", r.Amount); err != nil {
		return "", err
	}
	if !vendorkit.Null(r.Amount) {
		it.Has |= schemas.HasAmount
	}
	if err := d.currency(s, it, c.path+"CurrencyIsoCode", r.CurrencyIsoCode); err != nil {
		return "", err
	}
	if it.AccountID, err = d.id(c.path, "AccountId", r.AccountID); err != nil {
		return "", err
	}
	vendorkit.SetAttr(it, "opportunity_id", strings.Clone(id))
	if r.LeadSource != "" {
		vendorkit.SetAttr(it, "lead_source", s.intern.String(r.LeadSource))
	}
	return "", d.owner(s, it, c.path+"OwnerId", r.OwnerID, false)
}

// task maps a Task logged as a call or an e-mail. Only CREATE counts: a
// call or e-mail is logged once; later edits of the task are not new
// interactions.
func (d *Decoder) task(s *scratch, c *change, it *schemas.Interaction, id string) (string, error) {
	r := c.rec
	if !c.create {
		return skipNoChange, nil
	}
	if slices.Contains(d.cfg.OpenTaskStatuses, r.Status) {
		return skipOpenTask, nil
	}
	switch r.CallType {
	case "Inbound":
		it.Type = schemas.TypeCallInbound
	case "Outbound":
		it.Type = schemas.TypeCallOutbound
	case "Internal":
		return skipInternal, nil
	case "":
		switch {
		case slices.Contains(d.cfg.EmailTaskSubtypes, r.TaskSubtype) || hasAnyPrefix(r.Subject, d.cfg.EmailSubjectPrefixes):
			// Logged e-mails are the rep's sent mail; received mail comes
			// from the mailbox sources, which know the direction.
			it.Type = schemas.TypeMessageOutbound
		case r.TaskSubtype == "Call":
			// "Log a Call" without a CallType: the rep logged a call they made.
			it.Type = schemas.TypeCallOutbound
		default:
			return skipNotActivity, nil
		}
	default:
		return "", schemas.Invalid(Source, c.path+"CallType", r.CallType, "must be Inbound, Outbound or Internal")
	}
	dur, ok, err := number(c.path+"CallDurationInSeconds", r.CallDurationInSeconds)
	if err != nil {
		return "", err
	}
	if ok {
		it.DurationS = dur
		it.Has |= schemas.HasDuration
	}
	if !vendorkit.Null(r.CompletedDateTime) {
		t, ok := dateTime(r.CompletedDateTime)
		if !ok {
			return "", schemas.Invalid(Source, c.path+"CompletedDateTime", string(r.CompletedDateTime), RuleDateTime)
		}
		it.OccurredAt = t
	}
	if err := d.who(s, c, it); err != nil {
		return "", err
	}
	if r.TaskSubtype != "" {
		vendorkit.SetAttr(it, "sf_task_subtype", s.intern.String(r.TaskSubtype))
	}
	if r.CallDisposition != "" {
		vendorkit.SetAttr(it, "call_disposition", strings.Clone(r.CallDisposition))
	}
	vendorkit.SetAttr(it, "sf_activity_id", strings.Clone(id))
	return "", d.owner(s, it, c.path+"OwnerId", r.OwnerID, it.Type.RequiresRep())
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// who fills lead_id, account_id and the subject shared by Task and Event:
// WhoId is a lead (00Q) or a contact, WhatId an account (001), an
// opportunity (006) or anything else; AccountId wins over WhatId.
func (d *Decoder) who(s *scratch, c *change, it *schemas.Interaction) error {
	r := c.rec
	who, err := d.id(c.path, "WhoId", r.WhoID)
	if err != nil {
		return err
	}
	what, err := d.id(c.path, "WhatId", r.WhatID)
	if err != nil {
		return err
	}
	if it.AccountID, err = d.id(c.path, "AccountId", r.AccountID); err != nil {
		return err
	}
	switch {
	case strings.HasPrefix(who, prefixLead):
		it.LeadID = who
	case who != "":
		vendorkit.SetAttr(it, "sf_who_id", who)
	}
	switch {
	case strings.HasPrefix(what, prefixAccount):
		if it.AccountID == "" {
			it.AccountID = what
		}
	case strings.HasPrefix(what, prefixOpportunity):
		vendorkit.SetAttr(it, "opportunity_id", what)
	case what != "":
		vendorkit.SetAttr(it, "sf_what_id", what)
	}
	if r.Subject != "" {
		// Free text, possibly personal: pseudonymisation treats the
		// "subject" attribute as personal data.
		vendorkit.SetAttr(it, "subject", strings.Clone(r.Subject))
	}
	return nil
}

// event maps a calendar Event CREATE to meeting.held. Invitee copies
// (IsChild=true, one per attendee) are skipped so a meeting counts once, for
// its owner. The time is ActivityDateTime when the meeting lies before the
// commit (logged after the fact), else the commit time: a meeting booked
// for next week is counted when it was booked, so event time never runs
// ahead of the stream and the watermark.
func (d *Decoder) event(s *scratch, c *change, it *schemas.Interaction, id string) (string, error) {
	r := c.rec
	if !c.create {
		return skipNoChange, nil
	}
	child, _, err := boolean(c.path+"IsChild", r.IsChild)
	if err != nil {
		return "", err
	}
	if child {
		return skipInvitee, nil
	}
	it.Type = schemas.TypeMeetingHeld
	if !vendorkit.Null(r.ActivityDateTime) {
		at, ok := dateTime(r.ActivityDateTime)
		if !ok {
			return "", schemas.Invalid(Source, c.path+"ActivityDateTime", string(r.ActivityDateTime), RuleDateTime)
		}
		if at.Before(it.OccurredAt) {
			it.OccurredAt = at
		}
		vendorkit.SetAttr(it, "sf_activity_at", at.Format(time.RFC3339))
	}
	mins, ok, err := number(c.path+"DurationInMinutes", r.DurationInMinutes)
	if err != nil {
		return "", err
	}
	if ok {
		it.DurationS = mins * 60
		it.Has |= schemas.HasDuration
	}
	if err := d.who(s, c, it); err != nil {
		return "", err
	}
	vendorkit.SetAttr(it, "sf_activity_id", strings.Clone(id))
	return "", d.owner(s, it, c.path+"OwnerId", r.OwnerID, true)
}

// pricingFields are the quote line fields whose change is a new quote
// version worth a quote.created.
var pricingFields = [...]string{
	"SBQQ__ListPrice__c", "SBQQ__RegularPrice__c", "SBQQ__NetPrice__c", "SBQQ__NetTotal__c",
	"SBQQ__Quantity__c", "SBQQ__Discount__c", "SBQQ__AdditionalDiscountAmount__c",
}

// quoteLineChange maps SBQQ__QuoteLine__c changes to quote.created: the
// CREATE, and every UPDATE of a price, quantity or discount (a revised line
// is a new quote version: the discount KBIs and the authorization matrix
// must see a discount raised after creation). A quote line has no owner, so
// the rep is the user who committed the change (documented exception to
// "the rep is the owner"), unless the payload is enriched with OwnerId.
func (d *Decoder) quoteLineChange(s *scratch, c *change, it *schemas.Interaction, id string) (string, error) {
	r := c.rec
	if !c.create {
		l := &r.quoteLine
		raws := [...]json.RawMessage{l.ListPrice, l.RegularPrice, l.NetPrice, l.NetTotal, l.Quantity, l.Discount, l.AdditionalDiscountAmount}
		any := false
		for k, f := range pricingFields {
			if c.changed(f, !vendorkit.Null(raws[k])) {
				any = true
				break
			}
		}
		if !any {
			return skipNoChange, nil
		}
	}
	it.Type = schemas.TypeQuoteCreated
	if err := pricing(it, c.path, &r.quoteLine, c.create); err != nil {
		return "", err
	}
	if err := d.currency(s, it, c.path+"CurrencyIsoCode", r.CurrencyIsoCode); err != nil {
		return "", err
	}
	if err := d.quoteAttrs(it, c.path, &r.quoteLine, strings.Clone(id)); err != nil {
		return "", err
	}
	if r.OwnerID != "" {
		return "", d.owner(s, it, c.path+"OwnerId", r.OwnerID, true)
	}
	return "", d.owner(s, it, c.path+"ChangeEventHeader.commitUser", r.Header.CommitUser, true)
}

func (d *Decoder) quoteAttrs(it *schemas.Interaction, path string, l *quoteLine, lineID string) error {
	quote, err := d.id(path, "SBQQ__Quote__c", l.Quote)
	if err != nil {
		return err
	}
	product, err := d.id(path, "SBQQ__Product__c", l.Product)
	if err != nil {
		return err
	}
	if quote != "" {
		vendorkit.SetAttr(it, "quote_id", quote)
	}
	if product != "" {
		vendorkit.SetAttr(it, "sf_product_id", product)
	}
	if lineID != "" {
		vendorkit.SetAttr(it, "sf_quote_line_id", lineID)
	}
	if q, ok := vendorkit.Number(l.Quantity); ok {
		vendorkit.SetAttr(it, "quantity", strconv.FormatFloat(q, 'g', -1, 64))
	}
	return nil
}

// pricing fills list_price (unit list price), amount (net total of the line)
// and discount_pct: SBQQ__Discount__c (the additional discount in %), else
// SBQQ__AdditionalDiscountAmount__c relative to the regular price it is
// taken from (the list price when the regular price is missing). A complete
// line (CREATE, calculate body) without either has a 0 % discount; an update
// without them leaves the discount absent (unchanged, not zero).
func pricing(it *schemas.Interaction, path string, l *quoteLine, complete bool) error {
	var ok bool
	var err error
	if it.ListPrice, ok, err = number(path+"SBQQ__ListPrice__c", l.ListPrice); err != nil {
		return err
	} else if ok {
		it.Has |= schemas.HasListPrice
	}
	if it.Amount, ok, err = number(path+"SBQQ__NetTotal__c", l.NetTotal); err != nil {
		return err
	} else if ok {
		it.Has |= schemas.HasAmount
	}
	regular, regularOK, err := number(path+"SBQQ__RegularPrice__c", l.RegularPrice)
	if err != nil {
		return err
	}
	switch {
	case !vendorkit.Null(l.Discount):
		pct, ok := vendorkit.Number(l.Discount)
		if !ok || pct < 0 || pct > 100 {
			return schemas.Invalid(Source, path+"SBQQ__Discount__c", string(l.Discount), "must be a number between 0 and 100")
		}
		it.DiscountPct = pct
		it.Has |= schemas.HasDiscount
	case !vendorkit.Null(l.AdditionalDiscountAmount):
		amt, _, err := number(path+"SBQQ__AdditionalDiscountAmount__c", l.AdditionalDiscountAmount)
		if err != nil {
			return err
		}
		base := regular
		if !regularOK || base == 0 {
			base = it.ListPrice
		}
		if base <= 0 {
			if amt == 0 {
				it.Has |= schemas.HasDiscount
				return nil
			}
			return schemas.Invalid(Source, path+"SBQQ__AdditionalDiscountAmount__c", string(l.AdditionalDiscountAmount), "needs SBQQ__RegularPrice__c or SBQQ__ListPrice__c > 0 to derive a discount")
		}
		pct := amt / base * 100
		if pct > 100 {
			return schemas.Invalid(Source, path+"SBQQ__AdditionalDiscountAmount__c", string(l.AdditionalDiscountAmount), "must not exceed the regular price")
		}
		it.DiscountPct = pct
		it.Has |= schemas.HasDiscount
	case complete:
		it.Has |= schemas.HasDiscount
	}
	return nil
}

// calculate maps the line items of a CPQ Calculate Quote API body, one
// quote.created per line. The body has no change header: the time is the
// line's (else the quote's) LastModifiedDate, SystemModstamp or CreatedDate,
// and the rep is the quote's SBQQ__SalesRep__c, else its OwnerId.
func (d *Decoder) calculate(s *scratch, dst []schemas.Interaction, q *calcQuote, path string) []schemas.Interaction {
	qr := &q.Record
	rp := path + "record."
	quoteID, err := d.id(rp, "Id", qr.ID)
	if err != nil {
		s.errs.Add(err)
		return dst
	}
	quoteTime, quoteTimeOK := firstTime(qr.LastModifiedDate, qr.SystemModstamp, qr.CreatedDate)
	for k := range q.LineItems {
		line := &q.LineItems[k]
		lp := path + "lineItems[" + strconv.Itoa(k) + "].record."
		var it *schemas.Interaction
		dst, it = vendorkit.Next(dst)
		if err := d.calcLine(s, it, q, line, quoteID, quoteTime, quoteTimeOK, rp, lp); err != nil {
			dst = vendorkit.Drop(dst)
			s.errs.Add(err)
			continue
		}
		if dst, err = vendorkit.Commit(dst); err != nil {
			s.errs.Add(err)
			continue
		}
		d.metrics.emit(schemas.TypeQuoteCreated)
	}
	return dst
}

func (d *Decoder) calcLine(s *scratch, it *schemas.Interaction, q *calcQuote, line *calcLine, quoteID string, quoteTime time.Time, quoteTimeOK bool, rp, lp string) error {
	l := &line.Record
	it.Source = Source
	it.Type = schemas.TypeQuoteCreated
	lineID, err := d.id(lp, "Id", l.ID)
	if err != nil {
		return err
	}
	var ok bool
	if it.OccurredAt, ok = firstTime(l.LastModifiedDate, l.SystemModstamp, l.CreatedDate); !ok {
		if it.OccurredAt, ok = quoteTime, quoteTimeOK; !ok {
			return schemas.Invalid(Source, rp+"LastModifiedDate", "", "required: a Calculate Quote body needs LastModifiedDate, SystemModstamp or CreatedDate on the quote or line ("+RuleDateTime+")")
		}
	}
	// Same body redelivered, same id; a recalculation saved later has a new
	// modification time and so is a new quote version.
	b := append(s.buf[:0], "sf:cpq:"...)
	switch {
	case lineID != "":
		b = append(b, lineID...)
	case quoteID != "":
		key, ok := vendorkit.Digits(line.Key)
		if !ok {
			return schemas.Invalid(Source, strings.TrimSuffix(lp, "record.")+"key", string(line.Key), "required for a line without Id")
		}
		b = append(b, quoteID...)
		b = append(b, ":key"...)
		b = append(b, key...)
	default:
		return schemas.Invalid(Source, rp+"Id", "", "required for a line without Id")
	}
	b = append(b, ':')
	b = strconv.AppendInt(b, it.OccurredAt.UnixMilli(), 10)
	it.EventID = string(b)
	s.buf = b
	if err := pricing(it, lp, l, true); err != nil {
		return err
	}
	if err := d.currency(s, it, rp+"CurrencyIsoCode", q.Record.CurrencyIsoCode); err != nil {
		return err
	}
	if it.AccountID, err = d.id(rp, "SBQQ__Account__c", q.Record.Account); err != nil {
		return err
	}
	opp, err := d.id(rp, "SBQQ__Opportunity2__c", q.Record.Opportunity)
	if err != nil {
		return err
	}
	if opp != "" {
		vendorkit.SetAttr(it, "opportunity_id", opp)
	}
	if l.Quote == "" {
		l.Quote = q.Record.ID
	}
	if err := d.quoteAttrs(it, lp, l, lineID); err != nil {
		return err
	}
	if q.Record.SalesRep != "" {
		return d.owner(s, it, rp+"SBQQ__SalesRep__c", q.Record.SalesRep, true)
	}
	return d.owner(s, it, rp+"OwnerId", q.Record.OwnerID, true)
}

func firstTime(raws ...json.RawMessage) (time.Time, bool) {
	for _, r := range raws {
		if t, ok := dateTime(r); ok {
			return t, true
		}
	}
	return time.Time{}, false
}

// context decodes the "context" of a Calculate Quote request body, which
// the API defines as a JSON-encoded string (an object is accepted too).
func (d *Decoder) context(s *scratch, dst []schemas.Interaction, raw json.RawMessage, path string) []schemas.Interaction {
	body := []byte(raw)
	if raw[0] != '"' && raw[0] != '{' {
		s.errs.Add(schemas.Invalid(Source, strings.TrimSuffix(path, "."), string(raw), "must be a JSON-encoded QuoteModel string"))
		return dst
	}
	if raw[0] == '"' {
		var str string
		if err := json.Unmarshal(raw, &str); err != nil {
			s.errs.Add(schemas.Invalid(Source, strings.TrimSuffix(path, "."), string(raw), "must be a JSON-encoded QuoteModel string"))
			return dst
		}
		body = []byte(str)
	}
	lines := s.ctx.Quote.LineItems
	clear(lines[:cap(lines)])
	s.ctx = contextBody{}
	s.ctx.Quote.LineItems = lines[:0]
	rest, err := json.Parse(body, &s.ctx, parseFlags)
	if err != nil || len(trimSpace(rest)) != 0 {
		s.errs.Add(malformed(path, body, rest, err))
		return dst
	}
	return d.calculate(s, dst, &s.ctx.Quote, path+"quote.")
}
