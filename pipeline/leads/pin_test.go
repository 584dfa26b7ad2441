package leads

import (
	"context"
	"strings"
	"testing"
	"unsafe"

	"github.com/salespulse/salespulse/pipeline/state"
	"github.com/salespulse/salespulse/schemas"
)

// within reports whether s's bytes lie inside rec's: s is a substring of
// it and keeps all of rec alive.
func within(s, rec string) bool {
	if len(s) == 0 {
		return false
	}
	p, r := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(unsafe.StringData(rec)))
	return p >= r && p < r+uintptr(len(rec))
}

// The resolver keeps a contact's identities for leads.identity_ttl (a
// year by default):
// their lead ids must be strings of their own, not substrings of what
// the contacts-topic record was decoded into (schemas.DecodeWire keeps a
// record's ids in one block: the event, rep, team and account ids too),
// which they would keep alive (BenchmarkResolverIdentity: 401 → 345
// bytes per lead).
func TestIdentityPinsNoRecord(t *testing.T) {
	st := state.NewMemory()
	res := newLeads(t, st).NewResolver()
	rec := strings.Repeat("x", 1000) + "L-pin" + "kE" + "kP" + strings.Repeat("y", 1000)
	i := ev("lead", 0, schemas.TypeLeadCreated, rec[1000:1005], schemas.ContactKeys{Email: rec[1005:1007], Phone: rec[1007:1009]})
	if err := res.Process(context.Background(), batch("salespulse.contacts", 0, i)); err != nil {
		t.Fatal(err)
	}
	p := res.parts[partKey{"salespulse.contacts", 0}]
	if p == nil || len(p.ids) != 2 {
		t.Fatalf("identities not learnt: %+v", p)
	}
	for key, ids := range p.ids {
		if within(key, rec) {
			t.Fatalf("contact key %q is a substring of the record", key)
		}
		for _, id := range ids {
			if id.Lead != "L-pin" || within(id.Lead, rec) {
				t.Fatalf("identity of %s: lead %q, a substring of the record: %v", key, id.Lead, within(id.Lead, rec))
			}
		}
	}
}
