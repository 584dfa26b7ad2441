package anomaly

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/pipeline/anomaly/detect"
	"github.com/salespulse/salespulse/pipeline/anomaly/matrix"
	"github.com/salespulse/salespulse/pipeline/state"
	"github.com/salespulse/salespulse/schemas"
)

// restoreConfig makes every detector busy on a few hours of events: short
// SLA, small outlier and activity samples, pending rows emitted, state
// forgotten after a few hours (tombstones).
func restoreConfig() Config {
	return Config{
		EmitPending: true,
		SLA:         SLAConfig{Default: 20 * time.Minute},
		Approvals:   ApprovalsConfig{RequestWithin: 30 * time.Minute, Backlog: 2 * time.Hour},
		Outliers:    OutlierConfig{MinTeamSamples: 10, MinRepSamples: 3, TeamWindow: 30, RepWindow: 5, Threshold: 2},
		Activity:    ActivityConfig{Window: time.Hour, MinExpected: 3, MinWindows: 2, DropRatio: 0.5},
		ForgetAfter: 6 * time.Hour,
		Cooldown:    20 * time.Minute,
		Signals:     SignalsConfig{Cooldown: 2 * time.Hour, Hold: 3 * time.Hour, MaxUnmatched: 1},
	}
}

// randomEvents is a partition's stream: lead triggers and answers (some
// late, some never), quotes around the matrix's limits, approval requests
// and decisions, activity, slight disorder and quiet gaps that let
// deadlines, windows and sweeps fire.
func randomEvents(seed uint64, n int) []schemas.Interaction {
	r := rand.New(rand.NewPCG(seed, 7))
	reps := []string{"ae-1", "ae-2", "ae-3", "sdr-1"}
	at := t0
	var open []string
	type q struct {
		rep, acc string
		disc     float64
	}
	var quotes []q
	var requested []string
	trigger := map[string]string{} // lead → the event that opened it
	nextLead, nextApr := 0, 0
	out := make([]schemas.Interaction, 0, n)
	// Market signals and account ownership come from a second source of
	// randomness, so the rest of the stream is what it was before them.
	rs := rand.New(rand.NewPCG(seed, 13))
	for k := range n {
		if rs.IntN(10) == 0 {
			out = append(out, randomSignal(rs, "s"+strconv.FormatUint(seed, 10)+"-"+strconv.Itoa(k), at, reps))
		}
		at = at.Add(time.Duration(r.IntN(240)) * time.Second)
		if r.IntN(60) == 0 {
			at = at.Add(time.Duration(1+r.IntN(5)) * time.Hour)
		}
		t := at
		if r.IntN(10) == 0 {
			t = t.Add(-time.Duration(r.IntN(150)) * time.Second) // out of order, some beyond out_of_orderness
		}
		rep := reps[r.IntN(len(reps))]
		team := "team-01"
		if rep == "sdr-1" {
			team = "team-02"
		}
		i := schemas.Interaction{EventID: "e" + strconv.FormatUint(seed, 10) + "-" + strconv.Itoa(k), OccurredAt: t, RepID: rep, TeamID: team, Channel: schemas.ChannelEmail}
		switch x := r.IntN(100); {
		case x < 20 || x < 30 && len(open) == 0:
			i.Type = []schemas.Type{schemas.TypeLeadCreated, schemas.TypeMessageInbound, schemas.TypeCallInbound}[r.IntN(3)]
			if len(open) > 0 && r.IntN(4) == 0 {
				i.LeadID = open[r.IntN(len(open))] // another touch while waiting
			} else {
				nextLead++
				i.LeadID = "L" + strconv.Itoa(nextLead)
				open = append(open, i.LeadID)
				trigger[i.LeadID] = i.EventID
			}
			if i.Type == schemas.TypeCallInbound {
				i.Channel = schemas.ChannelPhone
			}
		case x < 40 && len(open) > 0:
			j := r.IntN(len(open))
			i.Type, i.LeadID = schemas.TypeMessageOutbound, open[j]
			open = append(open[:j], open[j+1:]...)
		case x < 52:
			i.Type, i.AccountID, i.Channel = schemas.TypeQuoteCreated, "acc-"+strconv.Itoa(r.IntN(3)), schemas.ChannelCRM
			disc := float64(r.IntN(46))
			if r.IntN(3) == 0 {
				disc = float64(2 + r.IntN(7)) // the bulk: small discounts
			}
			i.Has, i.DiscountPct, i.ListPrice = schemas.HasDiscount|schemas.HasListPrice, disc, 10000
			if r.IntN(8) == 0 {
				nextApr++
				i.ApprovalID = "apr-" + strconv.Itoa(nextApr)
			}
			quotes = append(quotes, q{rep, i.AccountID, disc})
		case x < 60 && len(quotes) > 0:
			qq := quotes[r.IntN(len(quotes))]
			nextApr++
			i.Type, i.ApprovalID, i.RepID, i.AccountID, i.Channel = schemas.TypeApprovalRequested, "apr-"+strconv.Itoa(nextApr), qq.rep, qq.acc, schemas.ChannelCRM
			i.Has, i.DiscountPct, i.ListPrice = schemas.HasDiscount|schemas.HasListPrice, qq.disc, 10000
			requested = append(requested, i.ApprovalID)
		case x < 68 && len(requested) > 0:
			j := r.IntN(len(requested))
			i.Type, i.ApprovalID, i.Channel = schemas.TypeApprovalDecided, requested[j], schemas.ChannelCRM
			requested = append(requested[:j], requested[j+1:]...)
			i.ApproverID = []string{"mgr-01", "dir-01", "stranger"}[r.IntN(3)]
			i.Has, i.Approved = schemas.HasApproved, r.IntN(4) != 0
		case x < 72 && len(open) > 0:
			// Someone acknowledges a waiting lead's alert: its breach's
			// or escalation's, now and then a wrong or repeated one.
			l := open[r.IntN(len(open))]
			rule := []string{RuleLeadResponseSLA, RuleLeadResponseSLA, RuleLeadResponseEscalated, "other"}[r.IntN(4)]
			i.Type, i.LeadID, i.ApprovalID, i.Channel = schemas.TypeAlertAcknowledged, l, detect.AlertID(rule, l, trigger[l]), schemas.ChannelCRM
			if r.IntN(2) == 0 {
				i.RepID, i.ApproverID = "", "slack:U"+strconv.Itoa(r.IntN(9))
			}
		default:
			i.Type, i.Channel = schemas.TypeCallOutbound, schemas.ChannelPhone
			if r.IntN(3) == 0 && rep == "ae-3" && at.Hour()%5 == 0 {
				continue // ae-3 goes quiet now and then: activity drops
			}
		}
		out = append(out, i)
	}
	return out
}

// randomSignal is an account.updated (owner, domain; now and then none,
// or another domain) or an account.signal (by domain, some unknown, or by
// account id only) at about at.
func randomSignal(r *rand.Rand, id string, at time.Time, reps []string) schemas.Interaction {
	acc := strconv.Itoa(r.IntN(6))
	dom := "d" + strconv.Itoa(r.IntN(8)) + ".example" // d6, d7: no account ever
	at = at.Add(-time.Duration(r.IntN(600)) * time.Second)
	if r.IntN(3) == 0 {
		i := schemas.Interaction{EventID: id, OccurredAt: at, Source: "crm", Type: schemas.TypeAccountUpdated, AccountID: "acc-" + acc,
			Attributes: map[string]string{schemas.AttrAccountDomain: "https://www.d" + acc + ".example/"}}
		if r.IntN(5) != 0 {
			i.RepID = reps[r.IntN(len(reps))]
		}
		if r.IntN(8) == 0 {
			i.Attributes[schemas.AttrAccountDomain] = dom // a move, or two accounts on one domain
		}
		return i
	}
	i := schemas.Interaction{EventID: id, OccurredAt: at, Source: "smarte", Type: schemas.TypeAccountSignal,
		Attributes: map[string]string{schemas.AttrSignalKind: schemas.SignalKinds()[r.IntN(4)], schemas.AttrSignalURL: "https://news.example/" + id}}
	if r.IntN(4) == 0 {
		i.AccountID = "acc-" + strconv.Itoa(r.IntN(8))
	} else {
		i.Attributes[schemas.AttrSignalDomain] = dom
	}
	return i
}

type testBatch struct {
	origin schemas.Origin
	events []schemas.Interaction
}

// cutBatches cuts each partition's events into batches of 1..40; a replay
// is cut at the same offsets (the Kafka source's cut plans guarantee it).
func cutBatches(seed uint64, streams [][]schemas.Interaction) [][]testBatch {
	r := rand.New(rand.NewPCG(seed, 11))
	out := make([][]testBatch, len(streams))
	for p, evs := range streams {
		for off := 0; off < len(evs); {
			n := min(1+r.IntN(40), len(evs)-off)
			out[p] = append(out[p], testBatch{
				origin: schemas.Origin{Topic: "in", Partition: int32(p), FirstOffset: int64(off), LastOffset: int64(off + n - 1)},
				events: evs[off : off+n],
			})
			off += n
		}
	}
	return out
}

func process(t testing.TB, s *Stage, tb testBatch) []schemas.Alert {
	t.Helper()
	b := schemas.NewBatch(tb.origin, nil)
	b.Interactions = append(b.Interactions, tb.events...)
	if err := s.Process(context.Background(), b); err != nil {
		t.Fatalf("process %s: %v", tb.origin, err)
	}
	return b.Alerts
}

func render(as []schemas.Alert) string {
	out := make([]schemas.Alert, len(as))
	for k, a := range as {
		a.At, a.EndsAt = a.At.UTC(), a.EndsAt.UTC()
		out[k] = a
	}
	return fmt.Sprint(out)
}

// storeEnv is a state store shared by the detectors of a test (the
// instances before and after a crash), with committed offsets the test
// sets by hand, counting what the stages ask of it.
type storeEnv struct {
	*state.Memory
	reg  *prometheus.Registry // of the last detector made
	cals map[string]Calendar  // Deps.Calendars of the detectors made
}

var _ state.Store = (*storeEnv)(nil)

func newStoreEnv() *storeEnv {
	return &storeEnv{Memory: state.NewMemory()}
}

func (e *storeEnv) commit(p int32, off int64) { e.SetCommitted("in", p, off) }

// records is the anomaly state the store holds for partition p of topic.
func (e *storeEnv) records(t testing.TB, topic string, p int32) map[string][]byte {
	t.Helper()
	recs, err := e.Memory.Load(context.Background(), state.Anomaly, topic, p)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func (e *storeEnv) detector(t testing.TB, cfg Config) *Detectors {
	t.Helper()
	m, err := matrix.Load("testdata/matrix.good.yml")
	if err != nil {
		t.Fatal(err)
	}
	e.reg = prometheus.NewRegistry()
	d, err := New(cfg, m, testOrg(), Deps{State: e, Calendars: e.cals}, e.reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestRestoreIsExact crashes the stage at random points (a new Detector
// and Stage on the same state store, resuming at the committed offset or a
// later acknowledged one), rewinds it without crashing (redeliveries,
// some beyond the 64 remembered batches), releases a partition (a
// rebalance took it) and gives it back, and compares every batch's
// alerts with an uninterrupted run: byte for byte per batch, and the same
// set of (id, state, at) overall.
//
// On the business clock too: deadlines rescheduled after a restore fall
// where the uninterrupted run had them, nights and weekends skipped.
func TestRestoreIsExact(t *testing.T) {
	for _, clock := range []Clock{ClockWall, ClockBusiness} {
		t.Run(string(clock), func(t *testing.T) { testRestoreIsExact(t, clock) })
	}
}

func testRestoreIsExact(t *testing.T, clock Clock) {
	const partitions = 2
	cfg := restoreConfig()
	cfg.SLA.Clock = clock
	var cals map[string]Calendar
	if clock == ClockBusiness {
		// Short days so the random stream's hours cross many closes.
		cals = map[string]Calendar{"*": {Start: "09:00", End: "11:00"}, "team-02": {TimeZone: "Europe/Berlin", Start: "10:00", End: "12:30"}}
	}
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			streams := [][]schemas.Interaction{randomEvents(seed*10, 2500), randomEvents(seed*10+1, 1500)}
			batches := cutBatches(seed, streams)

			// The uninterrupted run, in memory only.
			ref := newHarnessDeps(t, cfg, Deps{Calendars: cals}).stage
			want := make([][]string, partitions)
			wantSet := map[string]bool{}
			nAlerts, nBusiness := 0, 0
			for p := range batches {
				for _, b := range batches[p] {
					as := process(t, ref, b)
					want[p] = append(want[p], render(as))
					for _, a := range as {
						wantSet[a.ID+" "+a.State.String()+" "+a.At.UTC().String()] = true
						if a.Values["clock"] == string(ClockBusiness) {
							nBusiness++
						}
					}
					nAlerts += len(as)
				}
			}
			if nAlerts < 100 {
				t.Fatalf("only %d alerts: the stream does not exercise the detectors", nAlerts)
			}
			if clock == ClockBusiness && nBusiness < 50 {
				t.Fatalf("only %d business-clock SLA alerts", nBusiness)
			}

			env := newStoreEnv()
			env.cals = cals
			r := rand.New(rand.NewPCG(seed, 99))
			d := env.detector(t, cfg)
			s := d.NewStage()
			got := make([][]string, partitions)
			for p := range got {
				got[p] = make([]string, len(batches[p]))
			}
			gotSet := map[string]bool{}
			pos := make([]int, partitions)  // next batch per partition
			comm := make([]int, partitions) // committed batch index
			crashes, rewinds, releases, restores := 0, 0, 0, 0
			for pos[0] < len(batches[0]) || pos[1] < len(batches[1]) {
				p := r.IntN(partitions)
				if pos[p] >= len(batches[p]) {
					p = 1 - p
				}
				as := process(t, s, batches[p][pos[p]])
				got[p][pos[p]] = render(as)
				for _, a := range as {
					gotSet[a.ID+" "+a.State.String()+" "+a.At.UTC().String()] = true
				}
				pos[p]++
				if r.IntN(3) == 0 { // the commit lags behind acknowledgements
					comm[p] += r.IntN(pos[p] - comm[p] + 1)
					if comm[p] < len(batches[p]) {
						env.commit(int32(p), batches[p][comm[p]].origin.FirstOffset)
					} else {
						env.commit(int32(p), batches[p][comm[p]-1].origin.LastOffset+1)
					}
				}
				switch x := r.IntN(100); {
				case x < 3: // crash: a new process resumes at the committed offset
					crashes++
					d = env.detector(t, cfg)
					s = d.NewStage()
					for q := range pos {
						pos[q] = comm[q]
						if r.IntN(4) == 0 { // or at a later boundary (a restore above committed)
							pos[q] += r.IntN(pos[q] - comm[q] + 1)
						}
					}
				case x < 6 && pos[p] > comm[p]: // redelivery from some acknowledged batch
					rewinds++
					pos[p] = comm[p] + r.IntN(pos[p]-comm[p])
				case x < 9: // released (pipeline.Releaser), then given back
					releases++
					s.Release(batches[p][0].origin.Topic, int32(p))
				}
				restores = int(metric(t, env.reg, "salespulse_anomaly_restores_total"))
			}
			t.Logf("%d alerts, %d crashes, %d rewinds, %d releases, %d restores in the last incarnation", nAlerts, crashes, rewinds, releases, restores)
			if crashes == 0 || releases == 0 {
				t.Fatalf("%d crashes, %d releases: not tested", crashes, releases)
			}
			for p := range want {
				for k := range want[p] {
					if got[p][k] != want[p][k] {
						t.Fatalf("partition %d batch %d (%s):\n got  %s\n want %s", p, k, batches[p][k].origin, got[p][k], want[p][k])
					}
				}
			}
			if !reflect.DeepEqual(gotSet, wantSet) {
				t.Fatalf("alert transitions differ: got %d, want %d", len(gotSet), len(wantSet))
			}
		})
	}
}

// TestRestoreAfterCrashPagesOldLead is the limitation this fixes: a lead
// that arrived before a restart still pages its manager after it.
func TestRestoreAfterCrashPagesOldLead(t *testing.T) {
	env := newStoreEnv()
	cfg := Config{}
	s := env.detector(t, cfg).NewStage()
	b0 := testBatch{origin: schemas.Origin{Topic: "in", LastOffset: 0}, events: []schemas.Interaction{
		{EventID: "e0", Type: schemas.TypeLeadCreated, LeadID: "L1", RepID: "ae-1", TeamID: "team-01", OccurredAt: t0, Channel: schemas.ChannelCRM},
	}}
	expect(t, process(t, s, b0))
	env.commit(0, 1)
	// Deploy: a new process, state from the store.
	s = env.detector(t, cfg).NewStage()
	b1 := testBatch{origin: schemas.Origin{Topic: "in", FirstOffset: 1, LastOffset: 1}, events: []schemas.Interaction{tick(t0.Add(32 * time.Minute))}}
	a := process(t, s, b1)
	expect(t, a, "lead_response_sla firing L1")
	if a[0].ManagerID != "mgr-01" || !a[0].At.Equal(t0.Add(30*time.Minute)) {
		t.Fatalf("%+v", a[0])
	}
	// And closing it deletes its record once committed.
	b2 := testBatch{origin: schemas.Origin{Topic: "in", FirstOffset: 2, LastOffset: 2}, events: []schemas.Interaction{
		{EventID: "e2", Type: schemas.TypeCallOutbound, LeadID: "L1", RepID: "ae-1", TeamID: "team-01", OccurredAt: t0.Add(40 * time.Minute), Channel: schemas.ChannelPhone},
	}}
	expect(t, process(t, s, b2), "lead_response_sla resolved L1")
	if _, ok := env.records(t, "in", 0)["LL1"]; !ok {
		t.Error("the lead's record went before its closing batch was committed")
	}
	env.commit(0, 3)
	process(t, s, testBatch{origin: schemas.Origin{Topic: "in", FirstOffset: 3, LastOffset: 3}, events: []schemas.Interaction{tick(t0.Add(41 * time.Minute))}})
	recs := env.records(t, "in", 0)
	if _, ok := recs["LL1"]; ok {
		t.Error("the answered lead's record was not deleted")
	}
	if _, ok := recs["M"]; !ok {
		t.Error("no meta record")
	}
}

// allKeys lists every piece of state p holds.
func allKeys(p *detect.Partition) []detect.Key {
	ks := []detect.Key{{Kind: detect.KindMeta}}
	add := func(kind byte, ids []string) {
		for _, id := range ids {
			ks = append(ks, detect.Key{Kind: kind, ID: id})
		}
	}
	// Episodes are keyed rule\x00rep; every rep with one has values or
	// shares, which are never forgotten.
	episodes := map[string]bool{}
	for _, st := range p.States() {
		switch st := st.(type) {
		case *slaPart:
			add(kindLead, detect.SortedKeys(st.leads))
		case *approvalsPart:
			add(kindQuote, detect.SortedKeys(st.quotes))
			add(kindApproval, detect.SortedKeys(st.approvals))
			add(kindMatch, detect.SortedKeys(st.byMatch))
			add(kindLink, detect.SortedKeys(st.byApproval))
		case interface{ Keys() []detect.Key }: // outlier rings: team\x00rule[\x00rep]
			for _, k := range st.Keys() {
				ks = append(ks, k)
				if parts := strings.Split(k.ID, "\x00"); len(parts) == 3 {
					episodes[parts[1]+"\x00"+parts[2]] = true
				}
			}
		case *signalsPart:
			add(kindAccount, detect.SortedKeys(st.accounts))
			add(kindUnmatched, detect.SortedKeys(st.waiting))
		case *activityPart:
			add(kindShares, detect.SortedKeys(st.shares))
			for _, sh := range st.shares {
				for rep := range sh {
					episodes[RuleActivityDrop+"\x00"+rep] = true
				}
			}
			for start, teams := range st.windows {
				for team := range teams {
					ks = append(ks, detect.Key{Kind: kindWindow, ID: windowID(start, team)})
				}
			}
		}
	}
	for _, k := range detect.SortedKeys(episodes) {
		if p.Episode(k) != nil {
			ks = append(ks, detect.Key{Kind: detect.KindEpisode, ID: k})
		}
	}
	return ks
}

// TestCodecRoundTrip encodes every piece of state a busy partition holds
// (snapshots every few batches), decodes it into an empty partition and
// compares both, kind by kind.
func TestCodecRoundTrip(t *testing.T) {
	h := newHarness(t, restoreConfig())
	kinds := map[byte]int{}
	for n, b := range cutBatches(5, [][]schemas.Interaction{randomEvents(5, 3000)})[0] {
		process(t, h.stage, b)
		if n%5 == 0 {
			roundTrip(t, h.det, h.stage.Partition("in", 0), kinds)
		}
	}
	for _, k := range []byte{detect.KindMeta, kindLead, kindQuote, kindApproval, kindMatch, kindLink, detect.KindEpisode, 'T', 'R' /* outlier rings */, kindWindow, kindShares, kindAccount, kindUnmatched} {
		if kinds[k] == 0 {
			t.Errorf("the stream left no %c state to test", k)
		}
	}
	t.Logf("keys per kind: %v", kinds)

	vers := []detect.Version{{Last: -1}, {Last: 7, Val: []byte{1, 2}}, {Last: 9, Val: []byte{}}}
	got, err := detect.DecodeVersions(detect.AppendVersions(nil, vers))
	if err != nil || len(got) != 3 || got[0].Val != nil || got[1].Last != 7 || string(got[1].Val) != "\x01\x02" || got[2].Val == nil {
		t.Fatalf("versions: %+v %v", got, err)
	}
}

func roundTrip(t *testing.T, d *Detectors, src *detect.Partition, kinds map[byte]int) {
	t.Helper()
	dst := d.r.NewPartition(schemas.Origin{Topic: "in"})
	keys := allKeys(src)
	for _, k := range keys {
		v := src.Encode(nil, k)
		if v == nil {
			t.Fatalf("%c %q: no encoding", k.Kind, k.ID)
		}
		if err := dst.Decode(k, v); err != nil {
			t.Fatalf("%c %q: %v", k.Kind, k.ID, err)
		}
		if v2 := dst.Encode(nil, k); string(v2) != string(v) {
			t.Fatalf("%c %q: re-encoding differs", k.Kind, k.ID)
		}
		// Truncated records are errors, never panics or silent state.
		if err := d.r.NewPartition(schemas.Origin{}).Decode(k, v[:len(v)-1]); err == nil {
			t.Fatalf("%c %q: truncated record accepted", k.Kind, k.ID)
		}
		kinds[k.Kind]++
	}
	dst.Rebuild()
	if got, want := len(allKeys(dst)), len(keys); got != want {
		t.Fatalf("%d keys after a round trip, want %d", got, want)
	}
	for i, st := range src.States() {
		var pair [2]any
		switch st := st.(type) {
		case *slaPart:
			pair = [2]any{st.leads, dst.States()[i].(*slaPart).leads}
		case *approvalsPart:
			o := dst.States()[i].(*approvalsPart)
			pair = [2]any{[]any{st.quotes, st.approvals, st.byMatch, st.byApproval}, []any{o.quotes, o.approvals, o.byMatch, o.byApproval}}
		case *activityPart:
			o := dst.States()[i].(*activityPart)
			// An emptied order and none are the same state.
			pair = [2]any{[]any{st.windows, st.shares, slices.Clip(append([]int64(nil), st.order...))},
				[]any{o.windows, o.shares, slices.Clip(append([]int64(nil), o.order...))}}
		}
		if !reflect.DeepEqual(pair[0], pair[1]) {
			t.Fatalf("%T differs after a round trip", st)
		}
	}
}

func FuzzDecode(f *testing.F) {
	m, err := matrix.Load("testdata/matrix.good.yml")
	if err != nil {
		f.Fatal(err)
	}
	d, err := New(restoreConfig(), m, testOrg(), Deps{}, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	s := d.NewStage()
	for _, b := range cutBatches(6, [][]schemas.Interaction{randomEvents(6, 600)})[0] {
		process(f, s, b)
	}
	p := s.Partition("in", 0)
	for _, k := range allKeys(p) {
		f.Add(k.Kind, k.ID, detect.AppendVersions(nil, []detect.Version{{Last: -1}, {Last: 3, Val: p.Encode(nil, k)}}))
	}
	f.Fuzz(func(t *testing.T, kind byte, id string, v []byte) {
		vers, err := detect.DecodeVersions(v)
		if err != nil {
			return
		}
		dst := d.r.NewPartition(schemas.Origin{})
		for _, x := range vers {
			if x.Val != nil {
				dst.Decode(detect.Key{Kind: kind, ID: id}, x.Val)
			}
		}
		dst.Rebuild()
	})
}

// TestCheckpointSize reports what an open lead costs in the state store
// and how long restoring many takes.
func TestCheckpointSize(t *testing.T) {
	const n = 20000
	env := newStoreEnv()
	d := env.detector(t, Config{})
	s := d.NewStage()
	evs := make([]schemas.Interaction, n)
	for k := range evs {
		evs[k] = schemas.Interaction{EventID: fmt.Sprintf("evt-%08d", k), Type: schemas.TypeLeadCreated, LeadID: fmt.Sprintf("00Q5e00000%06d", k),
			RepID: "ae-1", TeamID: "team-01", OccurredAt: t0.Add(time.Duration(k) * time.Millisecond), Channel: schemas.ChannelCRM}
	}
	process(t, s, testBatch{origin: schemas.Origin{Topic: "sales.canonical", LastOffset: n - 1}, events: evs})
	total := 0
	for k, v := range env.records(t, "sales.canonical", 0) {
		if k[0] == kindLead {
			total += len(k) + len(v)
		}
	}
	t.Logf("open lead: %.1f state bytes (key + value, 15-byte lead id, 12-byte event id)", float64(total)/n)

	env.SetCommitted("sales.canonical", 0, n)
	start := time.Now()
	s2 := env.detector(t, Config{}).NewStage()
	process(t, s2, testBatch{origin: schemas.Origin{Topic: "sales.canonical", FirstOffset: n, LastOffset: n}, events: []schemas.Interaction{tick(t0.Add(time.Second))}})
	el := time.Since(start)
	if got := len(s2.Partition("sales.canonical", 0).States()[0].(*slaPart).leads); got != n {
		t.Fatalf("restored %d leads, want %d", got, n)
	}
	t.Logf("restore of %d open leads (and the next batch): %v", n, el)
}

// TestOneLoadPerPartitionStartOneSavePerBatch: the stage reads a
// partition's state once when it starts (or restarts) the partition, and
// saves at most once per batch (nothing when the batch changed nothing).
func TestOneLoadPerPartitionStartOneSavePerBatch(t *testing.T) {
	env := newStoreEnv()
	s := env.detector(t, restoreConfig()).NewStage()
	batches := cutBatches(8, [][]schemas.Interaction{randomEvents(80, 2000), randomEvents(81, 2000)})
	n := 0
	for k := 0; k < len(batches[0]) && k < len(batches[1]); k++ {
		for p := range batches {
			before := env.Saves(int32(p))
			process(t, s, batches[p][k])
			if got := env.Saves(int32(p)) - before; got > 1 {
				t.Fatalf("partition %d batch %d: %d saves", p, k, got)
			}
		}
		n++
	}
	if got := [2]int{env.Loads(0), env.Loads(1)}; got != [2]int{1, 1} {
		t.Fatalf("loads of partitions 0 and 1: %v, want one each", got)
	}
	if env.Saves(0) < n*9/10 || env.Saves(1) < n*9/10 {
		t.Fatalf("saves per partition %v for %d batches each: the stream changes state in most batches", []int{env.Saves(0), env.Saves(1)}, n)
	}
	// A rewind beyond what the stage remembers (the last 64 batches)
	// restarts the partition: one more load.
	if n < 65 {
		t.Fatalf("only %d batches: cannot rewind beyond the remembered 64", n)
	}
	process(t, s, batches[0][n-65])
	if env.Loads(0) != 2 || env.Loads(1) != 1 {
		t.Fatalf("after a rewind: loads %d, %d", env.Loads(0), env.Loads(1))
	}
}

// TestStoreErrors: a failed Load or Save fails the batch (it must not be
// acknowledged, and its alerts are withdrawn), and the next delivery
// restores from the store again: a fenced partition is never written from
// stale state.
func TestStoreErrors(t *testing.T) {
	env := newStoreEnv()
	s := env.detector(t, Config{}).NewStage()
	boom := errors.New("boom")
	b0 := testBatch{origin: schemas.Origin{Topic: "in", LastOffset: 0}, events: []schemas.Interaction{
		leadEv(schemas.TypeLeadCreated, "L1", "ae-1", t0, schemas.ChannelEmail)}}
	b1 := testBatch{origin: schemas.Origin{Topic: "in", FirstOffset: 1, LastOffset: 1}, events: []schemas.Interaction{tick(t0.Add(32 * time.Minute))}}
	try := func(tb testBatch) (*schemas.Batch, error) {
		b := schemas.NewBatch(tb.origin, nil)
		b.Interactions = append(b.Interactions, tb.events...)
		return b, s.Process(context.Background(), b)
	}
	env.FailWith(boom)
	if _, err := try(b0); !errors.Is(err, boom) {
		t.Fatalf("load failure: %v", err)
	}
	env.FailWith(nil)
	expect(t, process(t, s, b0))
	env.FailWith(fmt.Errorf("save: %w", state.ErrFenced))
	if b, err := try(b1); !errors.Is(err, state.ErrFenced) || len(b.Alerts) != 0 {
		t.Fatalf("fenced save: %v, %d alerts", err, len(b.Alerts))
	}
	env.FailWith(nil)
	loads := env.Loads(0)
	expect(t, process(t, s, b1), "lead_response_sla firing L1")
	if env.Loads(0) != loads+1 {
		t.Fatal("a fenced partition was written again without loading its state")
	}
}

// TestCorruptRecordFailsRestore: a record the codec cannot read fails the
// restore with the key named, instead of restoring half a state.
func TestCorruptRecordFailsRestore(t *testing.T) {
	env := newStoreEnv()
	s := env.detector(t, Config{}).NewStage()
	process(t, s, testBatch{origin: schemas.Origin{Topic: "in", LastOffset: 0}, events: []schemas.Interaction{
		leadEv(schemas.TypeLeadCreated, "L1", "ae-1", t0, schemas.ChannelEmail)}})
	v := env.records(t, "in", 0)["LL1"]
	if v == nil {
		t.Fatal("no record for lead L1")
	}
	if err := env.Memory.Save(context.Background(), state.Anomaly, "in", 0, []state.Record{{Key: []byte("LL1"), Value: v[:len(v)-1]}}); err != nil {
		t.Fatal(err)
	}
	b := schemas.NewBatch(schemas.Origin{Topic: "in", FirstOffset: 1, LastOffset: 1}, nil)
	b.Interactions = append(b.Interactions, tick(t0.Add(time.Minute)))
	err := env.detector(t, Config{}).NewStage().Process(context.Background(), b)
	if !errors.Is(err, detect.ErrCorrupt) || !strings.Contains(err.Error(), `"LL1"`) {
		t.Fatalf("restore of a corrupt record: %v", err)
	}
}

// An activity window's state keeps the layout earlier versions saved
// (total; each rep's count in name order; each rep's last event in name
// order), whatever order its reps were counted in (TestCodecRoundTrip
// reads it back).
func TestActivityWindowEncoding(t *testing.T) {
	a := &activityPart{windows: map[int64]map[string]*winCounts{}}
	id := windowID(3_600_000, "team-1")
	c := &winCounts{id: id}
	a.windows[3_600_000] = map[string]*winCounts{"team-1": c}
	for _, e := range [][2]string{{"rep-b", "e1"}, {"rep-a", "e2"}, {"rep-c", "e3"}, {"rep-b", "e4"}} {
		c.add(e[0], e[1])
	}
	got, ok := a.Encode(nil, detect.Key{Kind: kindWindow, ID: id})
	if !ok {
		t.Fatal("window not encoded")
	}
	want := binary.AppendUvarint(nil, 4)
	want = binary.AppendUvarint(want, 3)
	for _, rc := range []struct {
		rep string
		n   uint64
	}{{"rep-a", 1}, {"rep-b", 2}, {"rep-c", 1}} {
		want = binary.AppendUvarint(detect.AppendStrs(want, rc.rep), rc.n)
	}
	want = binary.AppendUvarint(want, 3)
	want = detect.AppendStrs(want, "rep-a", "e2", "rep-b", "e4", "rep-c", "e3")
	if !bytes.Equal(got, want) {
		t.Fatalf("encoded %x, want %x", got, want)
	}
}
