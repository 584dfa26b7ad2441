package gen

import (
	"crypto/sha256"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/salespulse/salespulse/schemas"
)

// event is what the tests keep of each generated interaction.
type event struct {
	i   schemas.Interaction
	key string
}

// generate runs cfg to the end and returns every event and the generator.
func generate(t testing.TB, cfg Config) ([]event, *Generator) {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out []event
	for {
		var in schemas.Interaction
		key, ok := g.Next(&in)
		if !ok {
			return out, g
		}
		out = append(out, event{i: in, key: string(key)})
	}
}

func weekConfig() Config {
	cfg := DefaultConfig()
	cfg.Days = 7 // Monday to Sunday
	return cfg
}

// streamHash hashes the canonical encoding and keys of cfg's whole stream.
func streamHash(t *testing.T, cfg Config) [32]byte {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	var in schemas.Interaction
	var buf []byte
	for {
		key, ok := g.Next(&in)
		if !ok {
			break
		}
		buf = append(schemas.AppendJSON(buf[:0], &in), '\t')
		buf = append(append(buf, key...), '\n')
		h.Write(buf)
	}
	return [32]byte(h.Sum(nil))
}

func TestDeterminism(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Days = 2
	a, b := streamHash(t, cfg), streamHash(t, cfg)
	if a != b {
		t.Fatal("the same seed produced two different streams")
	}
	cfg.Seed = 2
	if c := streamHash(t, cfg); c == a {
		t.Fatal("seeds 1 and 2 produced the same stream")
	}
}

func TestStreamIsOrderedValidAndKeyed(t *testing.T) {
	events, _ := generate(t, weekConfig())
	if len(events) == 0 {
		t.Fatal("no events")
	}
	ids := make(map[string]bool, len(events))
	var prev time.Time
	for n := range events {
		e := &events[n]
		in := e.i
		if in.OccurredAt.Before(prev) {
			t.Fatalf("event %d (%s) at %v is before its predecessor at %v", n, in.EventID, in.OccurredAt, prev)
		}
		prev = in.OccurredAt
		if ids[in.EventID] {
			t.Fatalf("event id %s repeated", in.EventID)
		}
		ids[in.EventID] = true
		if in.OccurredAt.Nanosecond()%int(time.Millisecond) != 0 {
			t.Fatalf("%s: event time %v is finer than the canonical millisecond", in.EventID, in.OccurredAt)
		}
		in.Normalize()
		if err := in.Validate(); err != nil {
			t.Fatalf("%s: %v", in.EventID, err)
		}
		if in.Channel != e.i.Channel {
			t.Fatalf("%s: Normalize changed the channel from %v to %v", in.EventID, e.i.Channel, in.Channel)
		}
		want := in.RepID
		switch {
		case in.RepID == "": // a team's forecast
			want = in.TeamID
		case in.LeadID != "":
			want = in.LeadID
		case in.AccountID != "":
			want = in.AccountID
		}
		if e.key != want {
			t.Fatalf("%s: key %q, want %q", in.EventID, e.key, want)
		}
		if (in.Type.Inbound() || in.Type.Outbound() || in.Type == schemas.TypeLeadCreated) && in.Contact.Name == "" {
			t.Fatalf("%s: touch %s without a contact", in.EventID, in.Type)
		}
	}
	if len(ids) != len(events) {
		t.Fatal("ids lost")
	}
}

// TestVolumeFollowsWorkingDays counts events per seller and local calendar
// day: about InteractionsPerRepDay on work days, none on the weekend, and
// none outside working hours (follow-ups are moved into them).
func TestVolumeFollowsWorkingDays(t *testing.T) {
	cfg := weekConfig()
	events, g := generate(t, cfg)
	org := schemas.NewIndex(g.Org())
	zones := map[string]*time.Location{}
	for _, tm := range g.Org().Teams {
		loc, err := time.LoadLocation(tm.TimeZone)
		if err != nil {
			t.Fatal(err)
		}
		zones[tm.ID] = loc
	}
	type repDay struct {
		rep string
		day int
	}
	counts := map[repDay]int{}
	start := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	for n := range events {
		in := &events[n].i
		if in.Type == schemas.TypeForecastSubmitted {
			continue // a few per period, not the day's work (TestForecasts)
		}
		local := in.OccurredAt.In(zones[org.TeamOf(in.RepID)])
		if h := local.Hour(); h < 8 || h >= 18 {
			t.Fatalf("%s at %v local: outside working hours 08:00-18:00", in.EventID, local)
		}
		d := int(time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, time.UTC).Sub(start) / (24 * time.Hour))
		counts[repDay{in.RepID, d}]++
	}
	sellers := 0
	for _, r := range g.Org().Reps {
		if r.Role == RoleManager {
			continue
		}
		sellers++
		for d := 5; d < 7; d++ {
			if n := counts[repDay{r.ID, d}]; n != 0 {
				t.Errorf("%s has %d events on weekend day %d", r.ID, n, d)
			}
		}
	}
	var total int
	for d := 0; d < 5; d++ {
		for _, r := range g.Org().Reps {
			if r.Role == RoleManager {
				continue
			}
			n := counts[repDay{r.ID, d}]
			total += n
			// A single rep-day varies (gamma-spaced actions, per-rep
			// pace 0.9–1.1, follow-ups); only the mean is tight.
			if n < 90 || n > 210 {
				t.Errorf("%s day %d: %d events, want roughly %v", r.ID, d, n, cfg.InteractionsPerRepDay)
			}
		}
	}
	mean := float64(total) / float64(5*sellers)
	if math.Abs(mean-cfg.InteractionsPerRepDay) > 0.1*cfg.InteractionsPerRepDay {
		t.Errorf("mean events per rep per work day = %.1f, want %v ±10%%", mean, cfg.InteractionsPerRepDay)
	}
	t.Logf("mean events per rep per work day: %.1f", mean)
}

func TestChannelMix(t *testing.T) {
	f := func(name string, mix ChannelMix) {
		t.Helper()
		cfg := DefaultConfig()
		cfg.Days = 5
		cfg.Mix = mix
		events, _ := generate(t, cfg)
		got := map[schemas.Channel]float64{}
		for n := range events {
			got[events[n].i.Channel]++
		}
		sum := mix.Email + mix.Phone + mix.Meeting + mix.Social + mix.CRM
		for _, c := range []struct {
			ch   schemas.Channel
			want float64
		}{
			{schemas.ChannelEmail, mix.Email}, {schemas.ChannelPhone, mix.Phone}, {schemas.ChannelMeeting, mix.Meeting},
			{schemas.ChannelSocial, mix.Social}, {schemas.ChannelCRM, mix.CRM},
		} {
			share := got[c.ch] / float64(len(events))
			if math.Abs(share-c.want/sum) > 0.02 {
				t.Errorf("%s: %s share %.3f, want %.3f ±0.02", name, c.ch, share, c.want/sum)
			}
		}
	}
	f("the default mix", DefaultConfig().Mix)
	f("a phone-heavy team with more CRM work", ChannelMix{Email: 0.2, Phone: 0.5, Meeting: 0.05, Social: 0.05, CRM: 0.2})
}

// TestResponseDelays pairs each lead's first event with its first outbound
// touch: the median must match the configured one (shifting into working
// hours only moves the tail), and planted leads are never answered.
func TestResponseDelays(t *testing.T) {
	cfg := weekConfig()
	events, g := generate(t, cfg)
	first := map[string]time.Time{}
	answered := map[string]bool{}
	var delays []time.Duration
	for n := range events {
		in := &events[n].i
		if in.LeadID == "" {
			continue
		}
		t0, seen := first[in.LeadID]
		if !seen {
			if in.Type.Outbound() {
				t.Fatalf("lead %s starts with an outbound touch %s", in.LeadID, in.EventID)
			}
			first[in.LeadID] = in.OccurredAt
			continue
		}
		if in.Type.Outbound() && !answered[in.LeadID] {
			answered[in.LeadID] = true
			delays = append(delays, in.OccurredAt.Sub(t0))
		}
	}
	slices.Sort(delays)
	median := delays[len(delays)/2]
	if median < cfg.Response.Median*3/4 || median > cfg.Response.Median*3/2 {
		t.Errorf("median response delay %v over %d leads, want about %v", median, len(delays), cfg.Response.Median)
	}
	p95 := delays[len(delays)*95/100]
	if p95 < 2*time.Hour {
		t.Errorf("p95 response delay %v: want a long tail", p95)
	}
	st := g.Stats()
	share := float64(st.NeverAnswered.Count) / float64(len(first))
	if math.Abs(share-cfg.Response.NeverAnswered) > 0.03 {
		t.Errorf("never-answered share %.3f, want %.2f", share, cfg.Response.NeverAnswered)
	}
	for _, id := range st.NeverAnswered.IDs {
		if answered[id] {
			t.Errorf("lead %s is planted as never answered but was answered", id)
		}
		if _, ok := first[id]; !ok {
			t.Errorf("planted lead %s never appeared", id)
		}
	}
	t.Logf("leads %d, answered %d, median %v, p95 %v, planted never answered %d", len(first), len(answered), median, p95, st.NeverAnswered.Count)
}

// TestTruth checks every claim of Stats against the stream itself.
func TestTruth(t *testing.T) {
	cfg := weekConfig()
	cfg.Days = 14
	events, g := generate(t, cfg)
	st := g.Stats()
	if st.Events != int64(len(events)) {
		t.Fatalf("Stats.Events = %d, stream has %d", st.Events, len(events))
	}
	byType := map[schemas.Type]int64{}
	var planted []string
	requested := map[string]time.Time{}
	var slow []string
	approvers := map[string]string{}
	for _, r := range g.Org().Reps {
		approvers[r.ID] = schemas.NewIndex(g.Org()).ManagerOf(r.ID)
	}
	for n := range events {
		in := &events[n].i
		byType[in.Type]++
		switch in.Type {
		case schemas.TypeQuoteCreated:
			if in.Has&schemas.HasDiscount == 0 || in.Has&schemas.HasListPrice == 0 || in.Has&schemas.HasAmount == 0 || in.Currency == "" {
				t.Fatalf("%s: quote without discount, list price, amount or currency", in.EventID)
			}
			if got := math.Round(in.ListPrice*(1-in.DiscountPct/100)*100) / 100; got != in.Amount {
				t.Fatalf("%s: amount %v does not follow from list %v and discount %v", in.EventID, in.Amount, in.ListPrice, in.DiscountPct)
			}
			if in.DiscountPct >= cfg.Quotes.PlantedMinPct {
				planted = append(planted, in.EventID)
			} else if in.DiscountPct > cfg.Quotes.HighMaxPct {
				t.Fatalf("%s: unplanted discount %v above %v", in.EventID, in.DiscountPct, cfg.Quotes.HighMaxPct)
			}
		case schemas.TypeApprovalRequested:
			if in.DiscountPct <= cfg.Quotes.ApprovalAbovePct {
				t.Fatalf("%s: approval requested for a %v %% discount", in.EventID, in.DiscountPct)
			}
			requested[in.ApprovalID] = in.OccurredAt
			fallthrough
		case schemas.TypeApprovalDecided:
			if in.ApproverID == "" || in.ApproverID != approvers[in.RepID] {
				t.Fatalf("%s: approver %q, want the rep's manager %q", in.EventID, in.ApproverID, approvers[in.RepID])
			}
			if in.Type == schemas.TypeApprovalDecided {
				t0, ok := requested[in.ApprovalID]
				if !ok {
					t.Fatalf("%s: decision on %s before its request", in.EventID, in.ApprovalID)
				}
				if in.OccurredAt.Sub(t0) > 24*time.Hour {
					slow = append(slow, in.ApprovalID)
				}
			}
		}
	}
	for typ, n := range byType {
		if st.ByType[typ] != n {
			t.Errorf("Stats.ByType[%s] = %d, stream has %d", typ, st.ByType[typ], n)
		}
	}
	if !slices.Equal(planted, st.BeyondAuthority.IDs) || st.BeyondAuthority.Count != int64(len(planted)) {
		t.Errorf("Stats.BeyondAuthority = %v, stream has %v", st.BeyondAuthority, planted)
	}
	if !slices.Equal(slow, st.SlowApprovals.IDs) || st.SlowApprovals.Count != int64(len(slow)) {
		t.Errorf("Stats.SlowApprovals = %v, stream has %v", st.SlowApprovals, slow)
	}
	if len(planted) == 0 || len(slow) == 0 || st.NeverAnswered.Count == 0 {
		t.Errorf("two weeks should plant some of each anomaly: beyond authority %d, slow approvals %d, never answered %d",
			len(planted), len(slow), st.NeverAnswered.Count)
	}
	if fast := len(requested) - len(slow); fast < 5*len(slow) {
		t.Errorf("%d approvals slower than 24 h of %d: want most faster", len(slow), len(requested))
	}
	t.Logf("events %d, beyond authority %d, slow approvals %d of %d, never answered %d, truncated %d",
		len(events), len(planted), len(slow), len(requested), st.NeverAnswered.Count, st.Truncated)
}

func TestTruthLimitBoundsIDs(t *testing.T) {
	cfg := DefaultConfig()
	cfg.TruthLimit = 3
	_, g := generate(t, cfg)
	st := g.Stats()
	if len(st.NeverAnswered.IDs) != 3 || st.NeverAnswered.Count <= 3 {
		t.Fatalf("NeverAnswered = %d ids of %d, want 3 of more", len(st.NeverAnswered.IDs), st.NeverAnswered.Count)
	}
}

// TestEndlessRunKeepsBoundedMemory runs 60 simulated work days with Days=0
// and checks the schedule does not grow with time.
func TestEndlessRunKeepsBoundedMemory(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Days = 0
	cfg.TruthLimit = 100
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var in schemas.Interaction
	maxHeap := 0
	for n := 0; n < 60*32*147; n++ {
		if _, ok := g.Next(&in); !ok {
			t.Fatal("an endless run ended")
		}
		maxHeap = max(maxHeap, len(g.heap))
	}
	if maxHeap > 1000 {
		t.Fatalf("%d items scheduled at once: the schedule grows", maxHeap)
	}
	if last := g.Stats().LastEventTime; last.Before(DefaultStart.AddDate(0, 0, 80)) {
		t.Fatalf("after 60 work days of events the clock is at %v", last)
	}
}

func TestStartOnAWeekendBeginsOnMonday(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Start = time.Date(2026, 11, 7, 0, 0, 0, 0, time.UTC) // Saturday
	cfg.Days = 3
	events, _ := generate(t, cfg)
	if len(events) == 0 {
		t.Fatal("no events on the Monday")
	}
	for n := range events {
		if wd := events[n].i.OccurredAt.Weekday(); wd != time.Monday && wd != time.Tuesday { // Chicago's evening is Tuesday UTC
			t.Fatalf("%s on %v", events[n].i.EventID, wd)
		}
	}
}

// Benchmarks. Compare with:
//
//	go test ./sources/gen -run '^$' -bench . -benchtime=200ms -count=6 > new.txt && benchstat old.txt new.txt
func BenchmarkNext(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Days = 0
	g, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	var in schemas.Interaction
	b.ReportAllocs()
	for b.Loop() {
		g.Next(&in)
	}
}

func BenchmarkNextAppendJSON(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Days = 0
	g, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	var in schemas.Interaction
	var buf []byte
	var bytes int64
	b.ReportAllocs()
	for b.Loop() {
		g.Next(&in)
		buf = schemas.AppendJSON(buf[:0], &in)
		bytes += int64(len(buf))
	}
	b.SetBytes(bytes / int64(b.N))
}
