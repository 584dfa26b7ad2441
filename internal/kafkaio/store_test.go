package kafkaio

import (
	"context"
	"errors"
	"maps"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/pipeline/state"
)

const (
	group = "salespulse-test"
	input = "sales.canonical"
)

func newCluster(t *testing.T) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func conn(c *kfake.Cluster) []kgo.Opt { return []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)} }

// newStore is one instance's store; every one gets its own registry.
func newStore(t *testing.T, c *kfake.Cluster) *StateStore {
	t.Helper()
	s, err := NewStateStore(StateConfig{RestoreTimeout: 30 * time.Second}, group, conn(c), prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.Ensure(t.Context(), 4); err != nil {
		t.Fatal(err)
	}
	return s
}

func rec(k, v string) state.Record {
	r := state.Record{Key: []byte(k)}
	if v != "-" {
		r.Value = []byte(v)
	}
	return r
}

func load(t *testing.T, s *StateStore, ns state.Namespace, topic string, partition int32) map[string]string {
	t.Helper()
	m, err := s.Load(t.Context(), ns, topic, partition)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for k, v := range m {
		out[k] = string(v)
	}
	return out
}

func save(t *testing.T, s *StateStore, ns state.Namespace, topic string, partition int32, recs ...state.Record) {
	t.Helper()
	if err := s.Save(t.Context(), ns, topic, partition, recs); err != nil {
		t.Fatal(err)
	}
}

func want(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if !maps.Equal(got, want) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func restores(s *StateStore) int { return int(testutil.ToFloat64(s.m.restores)) }

func TestNamespacesShareOneRead(t *testing.T) {
	c := newCluster(t)
	a := newStore(t, c)
	want(t, "first load", load(t, a, state.Window, input, 1), map[string]string{})
	want(t, "first load, anomaly", load(t, a, state.Anomaly, input, 1), map[string]string{})
	if n := restores(a); n != 1 {
		t.Errorf("restores of a partition without state = %d, want 1", n)
	}
	save(t, a, state.Window, input, 1, rec("Lk1", "w1"), rec("M", "meta"))
	save(t, a, state.Anomaly, input, 1, rec("Lk1", "a1"))
	// Same partition, another input topic: a separate state.
	want(t, "other topic", load(t, a, state.Window, "sales.hubspot", 1), map[string]string{})
	save(t, a, state.Window, "sales.hubspot", 1, rec("Lk1", "hubspot"))

	b := newStore(t, c)
	want(t, "window", load(t, b, state.Window, input, 1), map[string]string{"Lk1": "w1", "M": "meta"})
	if n := restores(b); n != 1 {
		t.Fatalf("restores after the window's load = %d, want 1", n)
	}
	want(t, "anomaly", load(t, b, state.Anomaly, input, 1), map[string]string{"Lk1": "a1"})
	if n := restores(b); n != 1 {
		t.Errorf("restores after the anomaly load of the same assignment = %d, want 1 (served from the window's read)", n)
	}
	// The cached map is handed out once: a second Load reads again.
	want(t, "anomaly again", load(t, b, state.Anomaly, input, 1), map[string]string{"Lk1": "a1"})
	if n := restores(b); n != 2 {
		t.Errorf("restores after a second anomaly load = %d, want 2", n)
	}
	// That read cached the window's map, taken here.
	load(t, b, state.Window, input, 1)
	if n := restores(b); n != 2 {
		t.Errorf("restores after the window's load = %d, want 2 (served from the anomaly's read)", n)
	}
	// A Save of a namespace drops its cached map: it is stale then.
	load(t, b, state.Window, input, 1)
	save(t, b, state.Anomaly, input, 1, rec("Lk1", "a2"))
	want(t, "anomaly after its save", load(t, b, state.Anomaly, input, 1), map[string]string{"Lk1": "a2"})
	if n := restores(b); n != 4 {
		t.Errorf("restores = %d, want 4 (a save dropped the cached anomaly map)", n)
	}
	want(t, "other topic", load(t, b, state.Window, "sales.hubspot", 1), map[string]string{"Lk1": "hubspot"})
	want(t, "other partition", load(t, b, state.Window, input, 2), map[string]string{})
}

func TestSaveLatestAndDelete(t *testing.T) {
	c := newCluster(t)
	a := newStore(t, c)
	load(t, a, state.Window, input, 0)
	save(t, a, state.Window, input, 0, rec("k1", "v1"), rec("k2", "v2"), rec("k3", "v3"))
	save(t, a, state.Window, input, 0, rec("k1", "v1b"), rec("k2", "-"))
	save(t, a, state.Window, input, 0) // nothing: no transaction
	if got := testutil.ToFloat64(a.m.window.records); got != 5 {
		t.Errorf("records written = %v, want 5", got)
	}
	want(t, "fresh store", load(t, newStore(t, c), state.Window, input, 0), map[string]string{"k1": "v1b", "k3": "v3"})

	// A released (revoked) partition must be loaded again before a save.
	a.Release(input, 0)
	if err := a.Save(t.Context(), state.Window, input, 0, []state.Record{rec("k1", "stale")}); !errors.Is(err, state.ErrFenced) {
		t.Fatalf("save after release: err = %v, want state.ErrFenced", err)
	}
	want(t, "load after release", load(t, a, state.Window, input, 0), map[string]string{"k1": "v1b", "k3": "v3"})
	save(t, a, state.Window, input, 0, rec("k3", "-"))
	want(t, "after the save", load(t, newStore(t, c), state.Window, input, 0), map[string]string{"k1": "v1b"})
}

func TestZombieIsFenced(t *testing.T) {
	c := newCluster(t)
	a := newStore(t, c)
	load(t, a, state.Window, input, 3)
	save(t, a, state.Window, input, 3, rec("k", "a1"), rec("a-only", "a"))

	// B takes the partition over (a rebalance; A is past revoke_timeout
	// and still running).
	b := newStore(t, c)
	want(t, "b's load", load(t, b, state.Window, input, 3), map[string]string{"k": "a1", "a-only": "a"})

	err := a.Save(t.Context(), state.Window, input, 3, []state.Record{rec("k", "zombie"), rec("a-only", "-")})
	if !errors.Is(err, state.ErrFenced) {
		t.Fatalf("zombie save: err = %v, want state.ErrFenced", err)
	}
	t.Logf("zombie save: %v", err)
	// Once fenced, A cannot write without loading again.
	err = a.Save(t.Context(), state.Window, input, 3, []state.Record{rec("k", "zombie2")})
	if !errors.Is(err, state.ErrFenced) {
		t.Fatalf("second zombie save: err = %v, want state.ErrFenced", err)
	}
	if n := testutil.ToFloat64(a.m.fenced); n != 2 {
		t.Errorf("fenced saves = %v, want 2", n)
	}
	save(t, b, state.Window, input, 3, rec("k", "b1"))

	want(t, "third store", load(t, newStore(t, c), state.Window, input, 3), map[string]string{"k": "b1", "a-only": "a"})
}

// TestForeignClaimsCounted: a load that finds the partition last claimed
// by another consumer group counts it (salespulse_state_foreign_claims_total)
// and still restores what is there, as a replay by a new group needs; the
// same group's next owner counts nothing.
func TestForeignClaimsCounted(t *testing.T) {
	c := newCluster(t)
	a := newStore(t, c)
	load(t, a, state.Window, input, 1)
	save(t, a, state.Window, input, 1, rec("k", "a"))
	a2 := newStore(t, c) // the same group's next owner (a rebalance)
	want(t, "same group", load(t, a2, state.Window, input, 1), map[string]string{"k": "a"})
	if n := testutil.ToFloat64(a2.m.foreign); n != 0 {
		t.Fatalf("the same group's load counted %v foreign claims", n)
	}
	other, err := NewStateStore(StateConfig{RestoreTimeout: 30 * time.Second}, "staging", conn(c), prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(other.Close)
	want(t, "another group", load(t, other, state.Window, input, 1), map[string]string{"k": "a"})
	if n := testutil.ToFloat64(other.m.foreign); n != 1 {
		t.Fatalf("another group's load counted %v foreign claims, want 1", n)
	}
	back := newStore(t, c) // and back: the first group sees staging's claim
	load(t, back, state.Window, input, 1)
	if n := testutil.ToFloat64(back.m.foreign); n != 1 {
		t.Fatalf("the first group's load after staging's counted %v, want 1", n)
	}
	a3 := newStore(t, c)
	load(t, a3, state.Window, input, 1)
	if n := testutil.ToFloat64(a3.m.foreign); n != 0 {
		t.Fatalf("the first group's load after its own counted %v", n)
	}
}

// A zombie caught in the middle of a save: its open transaction is
// aborted by the new owner's claim, and its commit fails.
func TestZombieOpenTransactionAborted(t *testing.T) {
	c := newCluster(t)
	a := newStore(t, c)
	load(t, a, state.Window, input, 2)
	save(t, a, state.Window, input, 2, rec("k", "a1"))

	// A's next save, by hand up to its commit.
	ctx := t.Context()
	prod := a.parts[inputPart{input, 2}].prod
	if err := prod.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := prod.ProduceSync(ctx, a.record(input, 2, state.Window, "k", []byte("zombie"))).FirstErr(); err != nil {
		t.Fatal(err)
	}
	b := newStore(t, c)
	want(t, "b's load", load(t, b, state.Window, input, 2), map[string]string{"k": "a1"})
	if err := prod.EndTransaction(ctx, kgo.TryCommit); !fenced(err) {
		t.Errorf("zombie commit after the new claim: err = %v, want a fencing error", err)
	}
	want(t, "third store", load(t, newStore(t, c), state.Window, input, 2), map[string]string{"k": "a1"})
}

func TestUpgradeFromLegacyTopics(t *testing.T) {
	c := newCluster(t)
	cl, err := kgo.NewClient(append(conn(c), kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := t.Context()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopics(ctx, 4, 1, nil, "salespulse.state-changelog", "salespulse.anomaly-changelog"); err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	legacy := func(topic string, partition int32, k, v string) {
		r := &kgo.Record{Topic: topic, Partition: partition, Key: []byte(k)}
		if v != "-" {
			r.Value = []byte(v)
		}
		recs = append(recs, r)
	}
	// The window's format: topic 0x00 kind id.
	w := "salespulse.state-changelog"
	legacy(w, 1, input+"\x00Llead-1", "open lead")
	legacy(w, 1, input+"\x00Llead-2", "closed lead")
	legacy(w, 1, input+"\x00Llead-2", "-")
	legacy(w, 1, input+"\x00Aappr-1", "approval v1")
	legacy(w, 1, input+"\x00Aappr-1", "approval v2")
	legacy(w, 1, input+"\x00M", "meta")
	legacy(w, 1, "sales.hubspot\x00Lother", "another topic's")
	// The detectors': topic/partition/kind/id (ids may hold '/').
	a := "salespulse.anomaly-changelog"
	legacy(a, 1, input+"/1/L/lead-1", "sla clock")
	legacy(a, 1, input+"/1/Q/q-1", "quote")
	legacy(a, 1, input+"/1/Q/q-1", "-")
	legacy(a, 1, input+"/1/E/discount\x00rep/7", "firing")
	legacy(a, 1, input+"/1/M/", "anomaly meta")
	legacy(a, 1, input+"/11/L/lead-9", "partition 11's")
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	s := newStore(t, c)
	want(t, "window", load(t, s, state.Window, input, 1), map[string]string{
		"Llead-1": "open lead", "Aappr-1": "approval v2", "M": "meta",
	})
	want(t, "anomaly", load(t, s, state.Anomaly, input, 1), map[string]string{
		"Llead-1": "sla clock", "Ediscount\x00rep/7": "firing", "M": "anomaly meta",
	})
	if n := testutil.ToFloat64(s.m.migrated); n != 6 {
		t.Errorf("migrated records = %v, want 6", n)
	}
	want(t, "partition without legacy state", load(t, s, state.Window, input, 0), map[string]string{})
	save(t, s, state.Window, input, 1, rec("Llead-1", "responded"), rec("Aappr-1", "-"))
	save(t, s, state.Anomaly, input, 1, rec("Llead-3", "new lead"))

	// The next owner reads the migrated and new state; the legacy topics
	// are not read again.
	n := newStore(t, c)
	want(t, "window after the upgrade", load(t, n, state.Window, input, 1), map[string]string{
		"Llead-1": "responded", "M": "meta",
	})
	want(t, "anomaly after the upgrade", load(t, n, state.Anomaly, input, 1), map[string]string{
		"Llead-1": "sla clock", "Ediscount\x00rep/7": "firing", "M": "anomaly meta", "Llead-3": "new lead",
	})
	want(t, "other input topic", load(t, n, state.Window, "sales.hubspot", 1), map[string]string{"Lother": "another topic's"})
	if n := testutil.ToFloat64(n.m.migrated); n != 1 {
		t.Errorf("migrated records on the second instance = %v, want 1 (sales.hubspot's only)", n)
	}
}

func TestCommitted(t *testing.T) {
	c := newCluster(t)
	s := newStore(t, c)
	now := time.Unix(1e9, 0)
	s.now = func() time.Time { return now }
	ctx := t.Context()
	got := func(partition int32, want int64) {
		t.Helper()
		o, err := s.Committed(ctx, input, partition)
		if err != nil {
			t.Fatal(err)
		}
		if o != want {
			t.Errorf("committed of %d = %d, want %d", partition, o, want)
		}
	}
	got(1, -1)
	adm := kadm.NewClient(s.adm)
	if _, err := adm.CreateTopic(ctx, 4, 1, nil, input); err != nil {
		t.Fatal(err)
	}
	var offs kadm.Offsets
	offs.AddOffset(input, 1, 42, -1)
	resp, err := adm.CommitOffsets(ctx, group, offs)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	got(1, -1) // the fetch is cached for commit_poll_interval
	now = now.Add(10 * time.Second)
	got(1, 42)
	got(2, -1)
}

func TestLoadWaitsForThePartition(t *testing.T) {
	c := newCluster(t)
	s, err := NewStateStore(StateConfig{RestoreTimeout: 300 * time.Millisecond}, group, conn(c), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Load(t.Context(), state.Window, input, 0); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("load before Ensure: err = %v, want ErrUnavailable", err)
	}
	if err := s.Ensure(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(t.Context(), state.Window, input, 0); err != nil {
		t.Fatal(err)
	}
	// The topic grows with the input topics.
	if err := s.Ensure(t.Context(), 3); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(t.Context(), state.Window, input, 2); err != nil {
		t.Fatal(err)
	}
}

func TestStateConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  StateConfig
		err  string
	}{
		{"defaults are valid", StateConfig{}, ""},
		{"no legacy topics turns migration off", StateConfig{LegacyTopics: []string{}}, ""},
		{"a skipped legacy position", StateConfig{LegacyTopics: []string{"", "old.anomaly"}}, ""},
		{"bad topic", StateConfig{Topic: "a/b"}, "state.topic: "},
		{"negative poll", StateConfig{CommitPollInterval: -time.Second}, "state.commit_poll_interval: "},
		{"negative restore", StateConfig{RestoreTimeout: -time.Second}, "state.restore_timeout: "},
		{"three legacy topics", StateConfig{LegacyTopics: []string{"a", "b", "c"}}, "state.legacy_topics: "},
		{"legacy is the state topic", StateConfig{LegacyTopics: []string{"salespulse.state"}}, "state.legacy_topics[0]: "},
		{"bad legacy topic", StateConfig{LegacyTopics: []string{"ok", "no good"}}, "state.legacy_topics[1]: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.SetDefaults()
			err := tc.cfg.Validate()
			switch {
			case tc.err == "" && err != nil:
				t.Errorf("Validate() = %v", err)
			case tc.err != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.err)):
				t.Errorf("Validate() = %v, want prefix %q", err, tc.err)
			}
		})
	}
	var c StateConfig
	c.SetDefaults()
	if c.Topic != "salespulse.state" || c.CommitPollInterval != 2*time.Second || c.RestoreTimeout != 2*time.Minute ||
		len(c.LegacyTopics) != 2 || c.LegacyTopics[0] != "salespulse.state-changelog" || c.LegacyTopics[1] != "salespulse.anomaly-changelog" ||
		c.TransactionalIDPrefix != "salespulse-state" {
		t.Errorf("defaults = %+v", c)
	}
}

func TestLegacyKeys(t *testing.T) {
	for _, tc := range []struct {
		name  string
		conv  legacyConv
		key   string
		ns    state.Namespace
		stage string
		ok    bool
	}{
		{"window lead", windowLegacyKey, input + "\x00Llead", state.Window, "Llead", true},
		{"window meta", windowLegacyKey, input + "\x00M", state.Window, "M", true},
		{"window, topic a prefix of another", windowLegacyKey, input + "x\x00Llead", 0, "", false},
		{"window, no kind", windowLegacyKey, input + "\x00", 0, "", false},
		{"anomaly lead", anomalyLegacyKey, input + "/3/L/lead/with/slashes", state.Anomaly, "Llead/with/slashes", true},
		{"anomaly meta", anomalyLegacyKey, input + "/3/M/", state.Anomaly, "M", true},
		{"anomaly, another partition", anomalyLegacyKey, input + "/33/L/lead", 0, "", false},
		{"anomaly, no kind separator", anomalyLegacyKey, input + "/3/LL", 0, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns, k, ok := tc.conv([]byte(tc.key), input, 3)
			if ok != tc.ok || ns != tc.ns || string(k) != tc.stage {
				t.Errorf("conv(%q) = %q %q %v, want %q %q %v", tc.key, ns, k, ok, tc.ns, tc.stage, tc.ok)
			}
		})
	}
}

// Every metric the store exports is in the catalogue (tests/ops checks the
// running binary; this fails sooner).
func TestMetricsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	newStateMetrics(reg)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 8 {
		t.Errorf("%d metric families gathered, want 8", len(mfs))
	}
	for _, mf := range mfs {
		if !strings.Contains(string(doc), "`"+mf.GetName()+"`") {
			t.Errorf("%s is not in docs/metrics.md", mf.GetName())
		}
	}
}

// Workers load and save their own partitions concurrently.
func TestPartitionsInParallel(t *testing.T) {
	c := newCluster(t)
	s := newStore(t, c)
	errs := make(chan error, 4)
	for p := range int32(4) {
		go func() {
			ctx := t.Context()
			for i := range 3 {
				if _, err := s.Load(ctx, state.Window, input, p); err != nil {
					errs <- err
					return
				}
				if _, err := s.Load(ctx, state.Anomaly, input, p); err != nil {
					errs <- err
					return
				}
				v := []byte{byte('0' + i)}
				if err := s.Save(ctx, state.Window, input, p, []state.Record{{Key: []byte("k"), Value: v}}); err != nil {
					errs <- err
					return
				}
				if err := s.Save(ctx, state.Anomaly, input, p, []state.Record{{Key: []byte("k"), Value: v}}); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := restores(s); n != 12 {
		t.Errorf("restores = %d, want 12 (one per partition and round)", n)
	}
	n := newStore(t, c)
	for p := range int32(4) {
		want(t, "window", load(t, n, state.Window, input, p), map[string]string{"k": "2"})
		want(t, "anomaly", load(t, n, state.Anomaly, input, p), map[string]string{"k": "2"})
	}
}

// An instance that crashed between its claim and the migration's commit
// left no init record: the next Load migrates, once.
func TestUpgradeAfterCrashedClaim(t *testing.T) {
	c := newCluster(t)
	ctx := t.Context()
	cl, err := kgo.NewClient(append(conn(c), kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopics(ctx, 2, 1, nil, "salespulse.anomaly-changelog"); err != nil {
		t.Fatal(err)
	}
	a := "salespulse.anomaly-changelog"
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: a, Partition: 1, Key: []byte(input + "/1/L/lead-1"), Value: []byte("open")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	crashed := newStore(t, c)
	if err := cl.ProduceSync(ctx, crashed.record(input, 1, 0, claimKey, []byte("claimed, then crashed"))).FirstErr(); err != nil {
		t.Fatal(err)
	}

	s := newStore(t, c)
	want(t, "anomaly", load(t, s, state.Anomaly, input, 1), map[string]string{"Llead-1": "open"})
	if n := testutil.ToFloat64(s.m.migrated); n != 1 {
		t.Errorf("migrated = %v, want 1", n)
	}
	n := newStore(t, c)
	want(t, "anomaly, next owner", load(t, n, state.Anomaly, input, 1), map[string]string{"Llead-1": "open"})
	if m := testutil.ToFloat64(n.m.migrated); m != 0 {
		t.Errorf("migrated by the next owner = %v, want 0", m)
	}
}

// A transaction left open on a changelog partition (its producer gone
// mid-transaction, as around a broker restart in tests/fault) holds the
// partition's last stable offset, so a read_committed restore cannot
// reach its claim. That Load must fail as unavailable, which the pipeline
// retries, with where the read stopped and why; it once stopped the
// process. Once the transaction ends, a Load succeeds.
func TestLoadHeldByAnOpenTransaction(t *testing.T) {
	c := newCluster(t)
	s, err := NewStateStore(StateConfig{RestoreTimeout: time.Second}, group, conn(c), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Ensure(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	other, err := kgo.NewClient(append(conn(c), kgo.TransactionalID("another-owner"),
		kgo.TransactionTimeout(time.Minute), kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := other.ProduceSync(t.Context(), &kgo.Record{Topic: s.cfg.Topic, Partition: 0, Key: []byte("x"), Value: []byte("y")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	_, err = s.Load(t.Context(), state.Window, input, 0)
	if !errors.Is(err, state.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("load behind an open transaction: err = %v, want state.ErrUnavailable wrapping the restore's deadline", err)
	}
	t.Log(err)
	for _, want := range []string{"no record read", "last stable offset 0", "a transaction left open on the partition"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if err := other.EndTransaction(t.Context(), kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(t.Context(), state.Window, input, 0); err != nil {
		t.Fatalf("load once the transaction was aborted: %v", err)
	}
}

// A read that stopped says how far it got; one that got no record says
// so rather than "offset 0", which a compacted partition may never hold.
func TestReadProgressDescribe(t *testing.T) {
	for _, c := range []struct {
		p    readProgress
		want string
	}{
		{readProgress{}, "no record read; the partition's bounds could not be listed"},
		{readProgress{at: 41, read: true, lso: 40, hwm: 60, bounds: true}, "read to offset 41, last stable offset 40, high watermark 60; a transaction left open on the partition holds read_committed readers back"},
		{readProgress{at: 61, read: true, lso: 61, hwm: 61, bounds: true}, "read to offset 61, last stable offset 61, high watermark 61"},
	} {
		if got := c.p.describe(50, true); got != c.want {
			t.Errorf("describe(%+v) = %q, want %q", c.p, got, c.want)
		}
	}
}
