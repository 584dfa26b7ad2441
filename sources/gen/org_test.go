package gen

import (
	"bytes"
	"regexp"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/salespulse/salespulse/schemas"
)

func TestNewOrg(t *testing.T) {
	cfg := DefaultConfig()
	org := NewOrg(cfg)
	if len(org.Teams) != cfg.Teams || len(org.Reps) != cfg.Teams*(cfg.RepsPerTeam+1) {
		t.Fatalf("%d teams and %d reps, want %d and %d", len(org.Teams), len(org.Reps), cfg.Teams, cfg.Teams*(cfg.RepsPerTeam+1))
	}
	var (
		sfID    = regexp.MustCompile(`^005[0-9A-Za-z]{15}$`)
		mailbox = regexp.MustCompile(`^[a-z]+\.[a-z]+[0-9]*@example-corp\.test$`)
		// Ofcom drama ranges and NANP 555-01XX.
		phone = regexp.MustCompile(`^(\+44(207946|11[3-8]496|1[2-4]1496)0[0-9]{3}|\+1[2-9][0-9]{2}55501[0-9]{2})$`)
		zoom  = regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)
		num   = regexp.MustCompile(`^[1-9][0-9]{5,8}$`)
	)
	seen := map[string]string{}
	roles := map[string]int{}
	zones := map[string]bool{}
	for _, tm := range org.Teams {
		zones[tm.TimeZone] = true
	}
	if len(zones) != 4 {
		t.Errorf("teams span %d time zones, want 4", len(zones))
	}
	for _, r := range org.Reps {
		roles[r.Role]++
		ids := map[string][]string{
			schemas.IdentSalesforce: r.SalesforceUserIDs, schemas.IdentHubSpot: r.HubSpotUserIDs, schemas.IdentZoom: r.ZoomUserIDs,
			schemas.IdentMailbox: r.Mailboxes, schemas.IdentAircall: r.AircallUserIDs, schemas.IdentPhone: r.PhoneNumbers,
		}
		for sys, list := range ids {
			if len(list) == 0 {
				t.Errorf("%s has no %s identity", r.ID, sys)
			}
			for _, id := range list {
				if other, dup := seen[sys+":"+id]; dup {
					t.Errorf("%s identity %s shared by %s and %s", sys, id, other, r.ID)
				}
				seen[sys+":"+id] = r.ID
			}
		}
		check := func(name string, re *regexp.Regexp, vs []string) {
			for _, v := range vs {
				if !re.MatchString(v) {
					t.Errorf("%s: %s %q malformed", r.ID, name, v)
				}
			}
		}
		check("salesforce id", sfID, r.SalesforceUserIDs)
		check("mailbox", mailbox, r.Mailboxes)
		check("phone", phone, r.PhoneNumbers)
		check("zoom id", zoom, r.ZoomUserIDs)
		check("hubspot id", num, r.HubSpotUserIDs)
		check("aircall id", num, r.AircallUserIDs)
	}
	if roles[RoleManager] != cfg.Teams || roles[RoleSDR] != 2*cfg.Teams || roles[RoleAE] != 6*cfg.Teams {
		t.Errorf("roles %v, want %d managers, 2 SDRs and 6 AEs per team", roles, cfg.Teams)
	}
	cfg.Seed = 2
	if other := NewOrg(cfg); other.Reps[1].Name == org.Reps[1].Name && other.Reps[1].ZoomUserIDs[0] == org.Reps[1].ZoomUserIDs[0] {
		t.Error("seeds 1 and 2 made the same people")
	}
	if again := NewOrg(DefaultConfig()); again.Reps[5].HubSpotUserIDs[1] != org.Reps[5].HubSpotUserIDs[1] {
		t.Error("the same seed made different vendor ids")
	}
}

// TestWriteOrgRoundTrip writes the org file, reads it the way the
// normalisers do and resolves every identity through schemas.Index.
func TestWriteOrgRoundTrip(t *testing.T) {
	org := NewOrg(DefaultConfig())
	var buf bytes.Buffer
	if err := WriteOrg(&buf, org); err != nil {
		t.Fatal(err)
	}
	var back schemas.Org
	dec := yaml.NewDecoder(&buf)
	dec.KnownFields(true)
	if err := dec.Decode(&back); err != nil {
		t.Fatal(err)
	}
	x := schemas.NewIndex(&back)
	for _, r := range org.Reps {
		for _, probe := range []struct{ sys, id string }{
			{schemas.IdentSalesforce, r.SalesforceUserIDs[0]}, {schemas.IdentHubSpot, r.HubSpotUserIDs[1]},
			{schemas.IdentZoom, r.ZoomUserIDs[0]}, {schemas.IdentMailbox, r.Mailboxes[0]},
			{schemas.IdentAircall, r.AircallUserIDs[0]}, {schemas.IdentPhone, r.PhoneNumbers[0]},
		} {
			if got := x.RepFor(probe.sys, probe.id); got != r.ID {
				t.Fatalf("RepFor(%s, %s) = %q, want %s", probe.sys, probe.id, got, r.ID)
			}
		}
		if want := "mgr-" + r.TeamID[len("team-"):]; x.ManagerOf(r.ID) != want {
			t.Fatalf("ManagerOf(%s) = %q, want %s", r.ID, x.ManagerOf(r.ID), want)
		}
	}
}
