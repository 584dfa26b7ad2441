package schemas

// Org is the sales organisation: teams, their managers and reps, and the
// identities each rep has in the vendor systems. It is loaded from the org
// file (YAML, see docs/org-file.md), which `salespulse gen` also writes, so
// normalisers can map vendor user ids, mailboxes and phone numbers to a
// rep_id and detectors can find the manager to page.
type Org struct {
	Teams []Team `yaml:"teams" json:"teams"`
	Reps  []Rep  `yaml:"reps" json:"reps"`
}

// Team is a group of reps under one manager.
type Team struct {
	ID        string `yaml:"id" json:"id"`
	Name      string `yaml:"name" json:"name"`
	ManagerID string `yaml:"manager_id" json:"manager_id"`
	Region    string `yaml:"region,omitempty" json:"region,omitempty"`
	TimeZone  string `yaml:"time_zone,omitempty" json:"time_zone,omitempty"` // IANA name; days are cut in this zone
	// Country is the ISO 3166-1 alpha-2 code (e.g. "US") in which the
	// national phone numbers of the team's contacts are read when the
	// contact itself has no country (see package privacy).
	Country string `yaml:"country,omitempty" json:"country,omitempty"`
	// AccountsTarget is how many distinct accounts each of the team's reps
	// should work per period (the accounts-per-rep KBI, docs/kbis.md); 0:
	// no target.
	AccountsTarget uint32 `yaml:"accounts_target,omitempty" json:"accounts_target,omitempty"`
}

// Rep is one person who sells (or manages sellers), with their identities in
// each vendor system.
type Rep struct {
	ID     string `yaml:"id" json:"id"`
	Name   string `yaml:"name,omitempty" json:"name,omitempty"`
	TeamID string `yaml:"team_id" json:"team_id"`
	Role   string `yaml:"role,omitempty" json:"role,omitempty"` // e.g. "ae", "sdr", "manager", "director": keys of the authorization matrix

	SalesforceUserIDs []string `yaml:"salesforce_user_ids,omitempty" json:"salesforce_user_ids,omitempty"`
	HubSpotUserIDs    []string `yaml:"hubspot_user_ids,omitempty" json:"hubspot_user_ids,omitempty"` // sourceId "userId:<id>" and hubspot_owner_id values
	ZoomUserIDs       []string `yaml:"zoom_user_ids,omitempty" json:"zoom_user_ids,omitempty"`
	Mailboxes         []string `yaml:"mailboxes,omitempty" json:"mailboxes,omitempty"` // Microsoft Graph mailbox addresses, lower case
	AircallUserIDs    []string `yaml:"aircall_user_ids,omitempty" json:"aircall_user_ids,omitempty"`
	PhoneNumbers      []string `yaml:"phone_numbers,omitempty" json:"phone_numbers,omitempty"` // E.164 numbers the rep calls from (Twilio)
}

// Index is an Org prepared for lookups on the hot path.
type Index struct {
	reps  map[string]*Rep
	teams map[string]*Team
	ids   map[string]string // "<system>:<vendor id>" -> rep id
}

// Vendor identity systems used as Index keys.
const (
	IdentSalesforce = "salesforce"
	IdentHubSpot    = "hubspot"
	IdentZoom       = "zoom"
	IdentMailbox    = "mailbox"
	IdentAircall    = "aircall"
	IdentPhone      = "phone"
)

// NewIndex builds the lookup maps of o.
func NewIndex(o *Org) *Index {
	x := &Index{reps: map[string]*Rep{}, teams: map[string]*Team{}, ids: map[string]string{}}
	for k := range o.Teams {
		x.teams[o.Teams[k].ID] = &o.Teams[k]
	}
	for k := range o.Reps {
		r := &o.Reps[k]
		x.reps[r.ID] = r
		for _, s := range []struct {
			sys string
			ids []string
		}{
			{IdentSalesforce, r.SalesforceUserIDs}, {IdentHubSpot, r.HubSpotUserIDs}, {IdentZoom, r.ZoomUserIDs},
			{IdentMailbox, r.Mailboxes}, {IdentAircall, r.AircallUserIDs}, {IdentPhone, r.PhoneNumbers},
		} {
			for _, id := range s.ids {
				x.ids[s.sys+":"+id] = r.ID
			}
		}
	}
	return x
}

// RepFor maps a vendor identity to a rep id ("" when unknown).
func (x *Index) RepFor(system, vendorID string) string {
	if x == nil {
		return ""
	}
	return x.ids[system+":"+vendorID]
}

// Rep returns the rep with id, or nil.
func (x *Index) Rep(id string) *Rep {
	if x == nil {
		return nil
	}
	return x.reps[id]
}

// Team returns the team with id, or nil.
func (x *Index) Team(id string) *Team {
	if x == nil {
		return nil
	}
	return x.teams[id]
}

// TeamOf returns the team id of rep id ("" when unknown).
func (x *Index) TeamOf(repID string) string {
	if r := x.Rep(repID); r != nil {
		return r.TeamID
	}
	return ""
}

// ManagerOf returns the manager who is paged for rep id ("" when unknown).
func (x *Index) ManagerOf(repID string) string {
	if r := x.Rep(repID); r != nil {
		if t := x.Team(r.TeamID); t != nil {
			return t.ManagerID
		}
	}
	return ""
}
