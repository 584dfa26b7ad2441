package gen

import (
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/salesforce/sfsynth"
)

// Role names written to the org file; they are the keys of the anomaly
// detectors' authorization matrix.
const (
	RoleManager = "manager"
	RoleAE      = "ae"
	RoleSDR     = "sdr"
)

// MailDomain is the domain of every rep's mailbox; .test is reserved
// (RFC 2606), so no mail can ever leave for a real company.
const MailDomain = "example-corp.test"

var firstNames = [...]string{
	"Anna", "Ben", "Clara", "David", "Elena", "Felix", "Greta", "Hugo", "Ines", "Jonas",
	"Karin", "Lukas", "Mara", "Nils", "Olivia", "Paul", "Quinn", "Rosa", "Simon", "Tara",
	"Uwe", "Vera", "Walter", "Xenia", "Yusuf", "Zoe", "Amir", "Beatriz", "Chloe", "Dmitri",
	"Emma", "Farid", "Grace", "Hannah", "Ivan", "Julia", "Kofi", "Lena", "Mateo", "Nora",
	"Oskar", "Priya", "Rafael", "Sofia", "Theo", "Ursula", "Victor", "Wen", "Yara", "Zeynep",
}

var lastNames = [...]string{
	"Adler", "Baker", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Hughes", "Ito", "Jensen",
	"Kowalski", "Lopez", "Meyer", "Novak", "Okafor", "Patel", "Quintero", "Rossi", "Schmidt", "Turner",
	"Umar", "Varga", "Weber", "Xu", "Yilmaz", "Zimmermann", "Andersen", "Becker", "Clarke", "Diaz",
	"Eriksen", "Fontaine", "Gruber", "Hansen", "Ivanova", "Jones", "Keller", "Larsen", "Moreau", "Nakamura",
	"Olsen", "Price", "Reyes", "Silva", "Tanaka", "Ueda", "Vogel", "Walsh", "Young", "Ziegler",
}

// Fictional telephone ranges reserved for drama and documentation, so a
// generated number can never ring a real phone.
var (
	// Ofcom drama numbers: 1000 per prefix (020 7946 0000–0999 London,
	// then Belfast, Cardiff and the non-geographic 0306 999), none of the
	// ranges contacts get (phonePlans): a contact never has a rep's
	// number, which would make its call internal.
	ukDramaPrefixes = [...]string{"+442079460", "+442896496", "+442920180", "+443069990"}
	// NANP 555-0100–555-0199: 100 per area code, none of
	// naContactAreaCodes.
	naRepAreaCodes = [...]string{"212", "646", "917", "718", "347", "312", "773", "872", "617", "415"}
)

// orgRand is the org's random stream: separate from the event stream, so
// changing event-generation code never renames reps.
func orgRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, 0x6f7267)) // "org"
}

// NewOrg builds the synthetic organisation of cfg: Teams teams assigned to
// the sites round-robin, each with a manager (a Rep with role "manager",
// also the team's ManagerID) and RepsPerTeam sellers, the first
// round(SDRShare*RepsPerTeam) of them SDRs and the rest AEs. Every person
// has one identity in each vendor system. Ids are stable: team-01, mgr-01,
// rep-01-01 ...; names and vendor ids depend on the seed only.
//
// cfg should be valid (see Config.Validate); NewOrg does not check it.
func NewOrg(cfg Config) *schemas.Org {
	rng := orgRand(cfg.Seed)
	org := &schemas.Org{}
	usedMail := map[string]bool{}
	used := map[string]bool{} // vendor ids: two reps sharing one would make schemas.Index ambiguous
	var ukPhones, naPhones int
	perSite := map[string]int{}
	sdrs := int(cfg.SDRShare*float64(cfg.RepsPerTeam) + 0.5)
	n := 0 // person ordinal, feeds the deterministic vendor ids
	for t := 1; t <= cfg.Teams; t++ {
		site := cfg.Sites[(t-1)%len(cfg.Sites)]
		perSite[site.Name]++
		team := schemas.Team{
			ID:        fmt.Sprintf("team-%02d", t),
			Name:      fmt.Sprintf("%s %d", site.Name, perSite[site.Name]),
			ManagerID: fmt.Sprintf("mgr-%02d", t),
			Region:    site.Region,
			TimeZone:  site.TimeZone,
			// The region national numbers of the team's contacts are read
			// in when their record names no country (HubSpot sends none):
			// the country the generator draws the team's contacts from.
			Country:        site.Country,
			AccountsTarget: uint32(cfg.AccountsTarget),
		}
		if team.Country == "" {
			team.Country = countryOfZone(site.TimeZone)
		}
		org.Teams = append(org.Teams, team)
		for r := 0; r <= cfg.RepsPerTeam; r++ {
			rep := schemas.Rep{TeamID: team.ID}
			switch {
			case r == 0:
				rep.ID, rep.Role = team.ManagerID, RoleManager
			case r <= sdrs:
				rep.ID, rep.Role = fmt.Sprintf("rep-%02d-%02d", t, r), RoleSDR
			default:
				rep.ID, rep.Role = fmt.Sprintf("rep-%02d-%02d", t, r), RoleAE
			}
			first, last := firstNames[rng.IntN(len(firstNames))], lastNames[rng.IntN(len(lastNames))]
			rep.Name = first + " " + last
			local := strings.ToLower(first + "." + last)
			mail := local + "@" + MailDomain
			for k := 2; usedMail[mail]; k++ {
				mail = local + strconv.Itoa(k) + "@" + MailDomain
			}
			usedMail[mail] = true
			rep.Mailboxes = []string{mail}
			n++
			rep.SalesforceUserIDs = []string{sfsynth.ID("005", "Dn", uint64(n)*7919+cfg.Seed%1000*104729)}
			// HubSpot shows a user as sourceId "userId:<id>" and as the
			// hubspot_owner_id property value: two different numbers.
			rep.HubSpotUserIDs = []string{
				unique(used, func() string { return strconv.Itoa(1000000 + rng.IntN(8999999)) }),
				unique(used, func() string { return strconv.Itoa(100000000 + rng.IntN(899999999)) }),
			}
			rep.ZoomUserIDs = []string{unique(used, func() string { return zoomID(rng) })}
			rep.AircallUserIDs = []string{unique(used, func() string { return strconv.Itoa(100000 + rng.IntN(899999)) })}
			if strings.HasPrefix(site.TimeZone, "America/") {
				rep.PhoneNumbers = []string{naRepPhone(naPhones)}
				naPhones++
			} else {
				rep.PhoneNumbers = []string{ukRepPhone(ukPhones)}
				ukPhones++
			}
			org.Reps = append(org.Reps, rep)
		}
	}
	return org
}

// unique draws until draw returns an id not seen before.
func unique(used map[string]bool, draw func() string) string {
	for {
		if id := draw(); !used[id] {
			used[id] = true
			return id
		}
	}
}

func ukRepPhone(n int) string {
	p := ukDramaPrefixes[(n/1000)%len(ukDramaPrefixes)]
	return fmt.Sprintf("%s%03d", p, n%1000)
}

func naRepPhone(n int) string {
	a := naRepAreaCodes[(n/100)%len(naRepAreaCodes)]
	return fmt.Sprintf("+1%s55501%02d", a, n%100)
}

// zoomID mimics Zoom's 22-character base64url user ids.
func zoomID(rng *rand.Rand) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	var b [22]byte
	for k := range b {
		b[k] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b[:])
}

// WriteOrg writes org as the YAML org file documented in docs/org-file.md.
func WriteOrg(w io.Writer, org *schemas.Org) error {
	if _, err := io.WriteString(w, "# SalesPulse org file (docs/org-file.md): teams, managers, reps and their vendor identities.\n"); err != nil {
		return fmt.Errorf("write org file: %w", err)
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(org); err != nil {
		return fmt.Errorf("write org file: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("write org file: %w", err)
	}
	return nil
}
