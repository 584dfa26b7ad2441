package gen

import (
	"fmt"
	"os"

	"github.com/salespulse/salespulse/schemas"
)

// ExampleWriteOrg writes the org file of a one-team, one-rep org and looks
// a vendor identity up the way the normalisers do.
func ExampleWriteOrg() {
	cfg := DefaultConfig()
	cfg.Teams, cfg.RepsPerTeam = 1, 1
	org := NewOrg(cfg)
	if err := WriteOrg(os.Stdout, org); err != nil {
		panic(err)
	}
	x := schemas.NewIndex(org)
	fmt.Println(x.RepFor(schemas.IdentMailbox, org.Reps[1].Mailboxes[0]), x.ManagerOf("rep-01-01"))
	// Output:
	// # SalesPulse org file (docs/org-file.md): teams, managers, reps and their vendor identities.
	// teams:
	//   - id: team-01
	//     name: Berlin 1
	//     manager_id: mgr-01
	//     region: emea
	//     time_zone: Europe/Berlin
	//     country: DE
	//     accounts_target: 40
	// reps:
	//   - id: mgr-01
	//     name: Vera Diaz
	//     team_id: team-01
	//     role: manager
	//     salesforce_user_ids:
	//       - 005Dn0000000TIuIAM
	//     hubspot_user_ids:
	//       - "3052770"
	//       - "296145315"
	//     zoom_user_ids:
	//       - 3J5_3PW1ypYC3l8woRfQFP
	//     mailboxes:
	//       - vera.diaz@example-corp.test
	//     aircall_user_ids:
	//       - "199521"
	//     phone_numbers:
	//       - "+442079460000"
	//   - id: rep-01-01
	//     name: Lena Varga
	//     team_id: team-01
	//     role: ae
	//     salesforce_user_ids:
	//       - 005Dn0000000VMdIAM
	//     hubspot_user_ids:
	//       - "5354830"
	//       - "945669558"
	//     zoom_user_ids:
	//       - fMrzdf5mvkSMtC1eJi0ho3
	//     mailboxes:
	//       - lena.varga@example-corp.test
	//     aircall_user_ids:
	//       - "755394"
	//     phone_numbers:
	//       - "+442079460001"
	// rep-01-01 mgr-01
}
