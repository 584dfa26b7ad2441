package devstack_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/internal/app"
	"github.com/salespulse/salespulse/internal/devstack"
	"github.com/salespulse/salespulse/internal/testenv"
	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/gen"
)

// TestDevHonoursTheConfigFile runs dev as `salespulse dev --config` does,
// with a team's own config: its org file (the generator's reps, under the
// team's own team ids), its privacy key, and its own state and
// alert topics. Vendor payloads are resolved through the org file, so the
// rows carry its team ids (with the generator's organisation they would
// carry the generator's); pseudonyms are made with the team's key, not the
// dev key; and the app creates the topics the file names.
func TestDevHonoursTheConfigFile(t *testing.T) {
	testenv.RequireCHDB(t)
	dir := t.TempDir()

	gc := gen.DefaultConfig()
	gc.Seed, gc.Teams, gc.RepsPerTeam, gc.Days = 7, 2, 3, 1
	g, err := gen.New(gc)
	if err != nil {
		t.Fatal(err)
	}
	org := schemas.Org{Teams: append([]schemas.Team(nil), g.Org().Teams...), Reps: append([]schemas.Rep(nil), g.Org().Reps...)}
	for k := range org.Teams {
		org.Teams[k].ID = "acme-" + org.Teams[k].ID
	}
	for k := range org.Reps {
		org.Reps[k].TeamID = "acme-" + org.Reps[k].TeamID
	}
	var orgYAML bytes.Buffer
	if err := gen.WriteOrg(&orgYAML, &org); err != nil {
		t.Fatal(err)
	}
	orgFile := filepath.Join(dir, "acme-org.yml")
	if err := os.WriteFile(orgFile, orgYAML.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ACME_PRIVACY_KEY", strings.Repeat("acme-secret-", 4))
	cfgFile := filepath.Join(dir, "salespulse.yml")
	if err := os.WriteFile(cfgFile, []byte(`
org_file: `+orgFile+`
privacy:
  key: {id: acme, env: ACME_PRIVACY_KEY}
state:
  topic: acme.state
alerts:
  topic: acme.alerts
  park_topic: acme.alerts.parked
`), 0o600); err != nil {
		t.Fatal(err)
	}
	ac, err := app.LoadConfig(cfgFile)
	if err != nil {
		t.Fatal(err)
	}

	st, err := devstack.Start(context.Background(), devstack.Config{
		DataDir: filepath.Join(dir, "dev"), KafkaAddr: "127.0.0.1:0", ClickHouseAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		Partitions: 2, Generator: true, Gen: gc, Format: "vendor", App: *ac,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("stack: %v", err)
		}
	})
	if st.OrgFile() != orgFile {
		t.Errorf("OrgFile() = %q, want the config's %q", st.OrgFile(), orgFile)
	}

	count := func(where string) int {
		t.Helper()
		out, err := st.Engine().Query(ctx, "SELECT count() FROM salespulse.interactions WHERE kafka_topic != 'sales.canonical' AND "+where, "TabSeparated")
		if err != nil {
			t.Fatal(err)
		}
		var n int
		for _, c := range strings.TrimSpace(string(out)) {
			n = n*10 + int(c-'0')
		}
		return n
	}
	deadline := time.Now().Add(60 * time.Second)
	for count("1") < 100 {
		if time.Now().After(deadline) {
			t.Fatalf("vendor rows did not arrive: %d", count("1"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n := count("team_id LIKE 'acme-%'"); n == 0 {
		t.Error("no vendor row carries a team id of the config's org file")
	}
	if n := count("team_id NOT LIKE 'acme-%'"); n != 0 {
		t.Errorf("%d vendor rows carry a team id that is not the org file's", n)
	}
	if n := count("contact_key LIKE 'acme:%'"); n == 0 {
		t.Error("no pseudonym made with the config's key")
	}
	if n := count("contact_key != '' AND contact_key NOT LIKE 'acme:%'"); n != 0 {
		t.Errorf("%d pseudonyms not made with the config's key (the dev key won?)", n)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(st.KafkaAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	md, err := kadm.NewClient(cl).ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{"acme.state", "acme.alerts", "acme.alerts.parked"} {
		if !md.Has(topic) {
			t.Errorf("topic %s named by the config was not created; topics: %v", topic, md.Names())
		}
	}
	for _, topic := range []string{"salespulse.state", "sales.alerts"} {
		if md.Has(topic) {
			t.Errorf("default topic %s exists although the config names another", topic)
		}
	}
}
