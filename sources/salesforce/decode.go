// Package salesforce normalises Salesforce Change Data Capture events (Lead,
// Contact, Opportunity, Task, Event, CPQ quote lines) and CPQ Calculate Quote API
// bodies into canonical interactions. The mapping is documented in
// docs/sources.md, section "Salesforce".
package salesforce

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/encoding/json"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/vendorkit"
)

// Source is the value of Interaction.Source and FieldError.Source.
const Source = "salesforce"

// Rules of the FieldErrors this package returns (besides schemas' own).
const (
	RuleID          = "must be a 15 or 18 character Salesforce id"
	RuleUnknownUser = "unknown Salesforce user; add it to the org file"
	RuleNumber      = "must be a finite number >= 0"
	RuleBool        = "must be true or false"
	RuleDateTime    = "must be epoch milliseconds or an ISO 8601 date-time between 2000 and 2100"
)

// parseFlags: zero-copy because nothing decoded outlives Decode without being
// cloned; exact key matching because Salesforce names are case-exact and the
// case-insensitive fallback costs time on every unknown key.
const parseFlags = json.ZeroCopy | json.DontMatchCaseInsensitiveStructFields

// Decoder turns one Kafka record value into canonical interactions.
// It is safe for concurrent use.
type Decoder struct {
	cfg     Config
	idx     *schemas.Index
	metrics *metrics
	pool    vendorkit.Pool[scratch]
}

// scratch is per-call decoding state, pooled so Decode is safe for
// concurrent use and allocation-free on its own account.
type scratch struct {
	msg    message
	ctx    contextBody
	arr    []json.RawMessage
	name   compoundName
	buf    []byte
	intern vendorkit.Interner
	errs   vendorkit.Errors
}

// NewDecoder returns a decoder. cfg gets its defaults applied and is
// validated; idx maps Salesforce user ids (OwnerId, commitUser) to reps and
// may be nil (then every owner is unknown). reg may be nil.
func NewDecoder(cfg Config, idx *schemas.Index, reg prometheus.Registerer) (*Decoder, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("salesforce decoder config: %w", err)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("salesforce decoder metrics: %w", err)
	}
	return &Decoder{cfg: cfg, idx: idx, metrics: m}, nil
}

// Decode appends to dst the interactions in one record value: a change event
// (Pub/Sub or CometD shape, or a JSON array of them) or a CPQ Calculate Quote
// body. value is not retained; every string appended is owned.
//
// Zero interactions and a nil error mean the record was deliberately skipped
// (counted in salespulse_salesforce_skipped_total). Bad input yields
// *schemas.FieldError values; when a record holds several events or record
// ids and only some are bad, the good ones are appended and the error (an
// errors.Join of FieldErrors whose Field starts with "[index].") names the
// bad ones. Every appended interaction has passed Normalize and Validate.
func (d *Decoder) Decode(dst []schemas.Interaction, value []byte) ([]schemas.Interaction, error) {
	s := d.pool.Get()
	defer d.pool.Put(s)
	v := trimSpace(value)
	if len(v) == 0 {
		return dst, schemas.Invalid(Source, "", "", "empty record value")
	}
	if v[0] != '[' {
		dst = d.decodeOne(s, dst, v, "")
		return dst, s.errs.Err()
	}
	rest, err := json.Parse(v, &s.arr, json.ZeroCopy)
	if err != nil || len(rest) != 0 {
		return dst, malformed("", v, rest, err)
	}
	for k, el := range s.arr {
		dst = d.decodeOne(s, dst, el, "["+strconv.Itoa(k)+"].")
	}
	clear(s.arr)
	s.arr = s.arr[:0]
	return dst, s.errs.Err()
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\n' || b[0] == '\r' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func malformed(prefix string, v, rest []byte, err error) error {
	field := strings.TrimSuffix(prefix, ".")
	if te, ok := err.(*json.UnmarshalTypeError); ok && te.Field != "" {
		return schemas.Invalid(Source, prefix+te.Field, vendorkit.TypeErrorValue(te.Value), "must be a JSON "+jsonKind(te.Type.Kind().String()))
	}
	if err == nil {
		return schemas.Invalid(Source, field, string(rest), "unexpected data after the JSON value")
	}
	return schemas.Invalid(Source, field, string(v), "malformed JSON: "+err.Error())
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "slice", "array":
		return "array"
	case "struct", "map":
		return "object"
	}
	return goKind
}

// decodeOne decodes one JSON object; prefix is "" or "[k]." inside a batch.
func (d *Decoder) decodeOne(s *scratch, dst []schemas.Interaction, v []byte, prefix string) []schemas.Interaction {
	if len(v) == 0 || v[0] != '{' {
		s.errs.Add(schemas.Invalid(Source, strings.TrimSuffix(prefix, "."), string(v), "must be a JSON object"))
		return dst
	}
	m := &s.msg
	m.reset()
	rest, err := json.Parse(v, m, parseFlags)
	if err != nil || len(rest) != 0 {
		s.errs.Add(malformed(prefix, v, rest, err))
		return dst
	}
	switch {
	case m.Payload.Header.present():
		return d.change(s, dst, &m.Payload, prefix+"payload.")
	case m.Data.Payload.Header.present():
		return d.change(s, dst, &m.Data.Payload, prefix+"data.payload.")
	case m.record.Header.present():
		return d.change(s, dst, &m.record, prefix)
	case m.Quote.Record.ID != "" || len(m.Quote.LineItems) != 0:
		return d.calculate(s, dst, &m.Quote, prefix+"quote.")
	case !vendorkit.Null(m.Context):
		return d.context(s, dst, m.Context, prefix+"context.")
	}
	s.errs.Add(schemas.Invalid(Source, prefix+"ChangeEventHeader", "", "required: the record is neither a change event nor a CPQ Calculate Quote body"))
	return dst
}

// change is one decoded change event and what the mapping needs about it.
type change struct {
	rec    *record
	path   string // prefix of payload field paths in errors
	ts     time.Time
	create bool
	names  bool // changedFields lists field names (CometD), not bitmaps (Pub/Sub)
}

// changed reports whether field was set by this change. present says
// whether the payload holds a non-null value for it. A CREATE sets whatever
// it holds. With field names in changedFields (CometD) the list decides,
// because enriched fields arrive unchanged; with bitmaps (Pub/Sub) or no list
// a non-null value is a change, because unchanged fields are null.
func (c *change) changed(field string, present bool) bool {
	if c.create || !c.names {
		return present
	}
	return slices.Contains(c.rec.Header.ChangedFields, field)
}

// fieldNames reports whether changedFields holds names rather than Pub/Sub
// bitmaps ("0x0A", "3-0x01" for compound fields).
func fieldNames(fs []string) bool {
	for _, f := range fs {
		if strings.HasPrefix(f, "0x") || strings.Contains(f, "-0x") {
			return false
		}
	}
	return len(fs) > 0
}

func (d *Decoder) change(s *scratch, dst []schemas.Interaction, rec *record, path string) []schemas.Interaction {
	h := &rec.Header
	hp := path + "ChangeEventHeader."
	c := change{rec: rec, path: path}
	switch h.ChangeType {
	case "CREATE":
		c.create = true
	case "UPDATE":
	case "DELETE":
		d.metrics.skipped[skipDelete].Inc()
		return dst
	case "UNDELETE":
		d.metrics.skipped[skipUndelete].Inc()
		return dst
	case "":
		s.errs.Add(schemas.Invalid(Source, hp+"changeType", "", "required"))
		return dst
	default:
		if strings.HasPrefix(h.ChangeType, "GAP_") {
			// The detail of the change is lost; counting it would be a
			// guess. The metric tells operators to resync.
			d.metrics.skipped[skipGap].Inc()
			return dst
		}
		s.errs.Add(schemas.Invalid(Source, hp+"changeType", h.ChangeType, "must be CREATE, UPDATE, DELETE, UNDELETE or GAP_*"))
		return dst
	}
	var fill func(*scratch, *change, *schemas.Interaction, string) (string, error)
	switch h.EntityName {
	case "Lead":
		fill = d.lead
	case "Contact":
		fill = d.contact
	case "Opportunity":
		fill = d.opportunity
	case "Task":
		fill = d.task
	case "Event":
		fill = d.event
	case "SBQQ__QuoteLine__c", "SBQQ__QuoteLine__ChangeEvent":
		fill = d.quoteLineChange
	case "":
		s.errs.Add(schemas.Invalid(Source, hp+"entityName", "", "required"))
		return dst
	default:
		// Account changes (e.g. of a lead conversion) and any other
		// object are not interactions.
		d.metrics.skipped[skipEntity].Inc()
		return dst
	}
	var ok bool
	if c.ts, ok = vendorkit.Millis(h.CommitTimestamp); !ok {
		rule := vendorkit.RuleMillis
		if len(h.CommitTimestamp) == 0 {
			rule = "required"
		}
		s.errs.Add(schemas.Invalid(Source, hp+"commitTimestamp", string(h.CommitTimestamp), rule))
		return dst
	}
	if len(h.RecordIDs) == 0 {
		s.errs.Add(schemas.Invalid(Source, hp+"recordIds", "", "required"))
		return dst
	}
	if !validTxKey(h.TransactionKey) {
		s.errs.Add(schemas.Invalid(Source, hp+"transactionKey", h.TransactionKey, "must be at most 64 letters, digits and dashes"))
		return dst
	}
	seq, seqOK := vendorkit.Digits(h.SequenceNumber)
	if !seqOK && !vendorkit.Null(h.SequenceNumber) {
		s.errs.Add(schemas.Invalid(Source, hp+"sequenceNumber", string(h.SequenceNumber), "must be a non-negative integer"))
		return dst
	}
	if h.CommitUser != "" && !isID(h.CommitUser) {
		s.errs.Add(schemas.Invalid(Source, hp+"commitUser", h.CommitUser, RuleID))
		return dst
	}
	c.names = fieldNames(h.ChangedFields)

	for k, id := range h.RecordIDs {
		if !isID(id) {
			s.errs.Add(schemas.Invalid(Source, hp+"recordIds["+strconv.Itoa(k)+"]", id, RuleID))
			continue
		}
		var it *schemas.Interaction
		dst, it = vendorkit.Next(dst)
		it.Source = Source
		it.OccurredAt = c.ts
		skip, err := fill(s, &c, it, id)
		if skip != "" || err != nil {
			dst = vendorkit.Drop(dst)
			if skip != "" {
				d.metrics.skipped[skip].Inc()
			} else {
				s.errs.Add(err)
			}
			continue
		}
		// The id is a function of the change alone: the transaction key
		// and sequence number are the same whether the event came through
		// Pub/Sub or CometD (the replay id is not), and a merged event
		// with several record ids yields one interaction per record.
		b := append(s.buf[:0], "sf:"...)
		if h.TransactionKey != "" {
			b = append(b, h.TransactionKey...)
			b = append(b, ':')
			b = append(b, seq...)
		} else {
			b = append(b, h.ChangeType...)
			b = append(b, ':')
			b = strconv.AppendInt(b, c.ts.UnixMilli(), 10)
		}
		b = append(b, ':')
		b = append(b, id...)
		it.EventID = string(b)
		s.buf = b
		if h.CommitUser != "" {
			vendorkit.SetAttr(it, "sf_commit_user", s.intern.String(h.CommitUser))
			if rep := d.idx.RepFor(schemas.IdentSalesforce, h.CommitUser); rep != "" {
				vendorkit.SetAttr(it, "sf_commit_rep", rep)
			}
		}
		vendorkit.SetAttr(it, "sf_change_type", changeTypeName(c.create))
		if dst, err = vendorkit.Commit(dst); err != nil {
			s.errs.Add(err)
			continue
		}
		d.metrics.emit(dst[len(dst)-1].Type)
	}
	return dst
}

func changeTypeName(create bool) string {
	if create {
		return "CREATE"
	}
	return "UPDATE"
}

// isID reports whether s is a Salesforce record id: 15 (case-sensitive) or
// 18 (case-insensitive) alphanumerics. Checking it keeps free text (and with
// it personal data) out of ids.
func isID(s string) bool {
	if len(s) != 15 && len(s) != 18 {
		return false
	}
	for k := 0; k < len(s); k++ {
		c := s[k]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

func validTxKey(s string) bool {
	if len(s) > 64 {
		return false
	}
	for k := 0; k < len(s); k++ {
		c := s[k]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-') {
			return false
		}
	}
	return true
}

// id validates an optional record id field and returns an owned copy.
func (d *Decoder) id(path, field, v string) (string, error) {
	if v == "" {
		return "", nil
	}
	if !isID(v) {
		return "", schemas.Invalid(Source, path+field, v, RuleID)
	}
	return strings.Clone(v), nil
}

// owner sets the rep (and team) from a Salesforce user id. When required
// (the type needs a rep) a missing or unknown user is an error; otherwise an
// unknown user leaves rep_id empty and is kept as attribute sf_owner_id so
// operators can complete the org file.
func (d *Decoder) owner(s *scratch, it *schemas.Interaction, field, user string, required bool) error {
	if user == "" {
		if required {
			return schemas.Invalid(Source, field, "", "required for type "+it.Type.String())
		}
		return nil
	}
	if !isID(user) {
		return schemas.Invalid(Source, field, user, RuleID)
	}
	rep := d.idx.RepFor(schemas.IdentSalesforce, user)
	if rep == "" {
		if required {
			return schemas.Invalid(Source, field, user, RuleUnknownUser)
		}
		vendorkit.SetAttr(it, "sf_owner_id", s.intern.String(user))
		return nil
	}
	it.RepID = rep
	it.TeamID = d.idx.TeamOf(rep)
	return nil
}

// number reads an optional non-negative number.
func number(field string, raw json.RawMessage) (float64, bool, error) {
	if vendorkit.Null(raw) {
		return 0, false, nil
	}
	f, ok := vendorkit.Number(raw)
	if !ok || f < 0 {
		return 0, false, schemas.Invalid(Source, field, string(raw), RuleNumber)
	}
	return f, true, nil
}

func boolean(field string, raw json.RawMessage) (v, present bool, err error) {
	v, present, ok := vendorkit.Bool(raw)
	if !ok {
		return false, false, schemas.Invalid(Source, field, string(raw), RuleBool)
	}
	return v, present, nil
}

func (d *Decoder) currency(s *scratch, it *schemas.Interaction, field, v string) error {
	if v == "" {
		it.Currency = d.cfg.DefaultCurrency
		return nil
	}
	if len(v) != 3 || !letter(v[0]) || !letter(v[1]) || !letter(v[2]) {
		return schemas.Invalid(Source, field, v, "must be a three-letter ISO 4217 code")
	}
	it.Currency = s.intern.String(v)
	return nil
}

func letter(c byte) bool { return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' }

// dateTime parses a Salesforce date-time: epoch milliseconds in change
// events, "2024-05-01T10:00:00.000+0000" (or RFC 3339) in REST bodies.
func dateTime(raw json.RawMessage) (time.Time, bool) {
	if t, ok := vendorkit.Millis(raw); ok {
		return t, true
	}
	b, ok := vendorkit.Unquote(raw)
	if !ok || len(raw) == 0 || raw[0] != '"' {
		return time.Time{}, false
	}
	for _, layout := range [...]string{"2006-01-02T15:04:05.000-0700", "2006-01-02T15:04:05-0700", time.RFC3339Nano} {
		if t, err := time.Parse(layout, string(b)); err == nil && t.Year() >= 2000 && t.Year() < 2100 {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}
