package cuts

import (
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// rec is one record as the source applies it: its offset, the rows it
// decoded into, and when it was applied (seconds after t0).
type rec struct {
	off  int64
	rows int
	at   int
}

// feed applies records the way the source does (Due, Add, Close) and
// returns the ranges cut.
func feed(p *Planner[int], recs ...rec) []Range {
	var out []Range
	for _, r := range recs {
		if p.Stale(r.off) {
			continue
		}
		for {
			due := p.Due(r.off)
			if len(due) == 0 {
				break
			}
			out = append(out, p.Close(due[0], 0).Range)
		}
		if p.Add(r.off, r.rows, 100, t0.Add(time.Duration(r.at)*time.Second)) {
			out = append(out, p.Close(r.off, 0).Range)
		}
	}
	return out
}

func rs(pairs ...int64) []Range {
	var out []Range
	for k := 0; k+1 < len(pairs); k += 2 {
		out = append(out, Range{pairs[k], pairs[k+1]})
	}
	return out
}

func lim() Limits {
	return Limits{MaxRows: 3, MaxBytes: 1 << 20, Linger: time.Second, MaxInFlight: 4}
}

func TestPlannerCuts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		resume func(p *Planner[int])
		recs   []rec
		want   []Range
	}{{
		name: "a batch closes at max rows, counted in decoded rows not records",
		recs: []rec{{0, 1, 0}, {1, 1, 0}, {2, 1, 0}, {3, 2, 0}, {4, 5, 0}, {5, 0, 0}},
		want: rs(0, 2, 3, 4),
	}, {
		name: "the first record from the reset offset starts the first cut",
		recs: []rec{{40, 1, 0}, {41, 1, 0}, {42, 1, 0}},
		want: rs(40, 42),
	}, {
		name:   "a committed plan cuts its ends whatever the limits say",
		resume: func(p *Planner[int]) { p.Resume(10, "sp1:10,15") },
		recs:   []rec{{10, 9, 0}, {11, 1, 0}, {12, 1, 0}, {13, 1, 0}, {14, 1, 0}, {15, 1, 0}, {16, 1, 0}, {17, 1, 0}, {18, 1, 0}},
		want:   rs(10, 10, 11, 15, 16, 18),
	}, {
		name:   "planned ranges whose records are gone (compaction) are cut empty",
		resume: func(p *Planner[int]) { p.Resume(10, "sp1:12,14,20") },
		recs:   []rec{{17, 1, 0}, {20, 1, 0}},
		want:   rs(10, 12, 13, 14, 15, 20),
	}, {
		name:   "a plan's ends before the reset offset's first record are of deleted records",
		resume: func(p *Planner[int]) { p.Replan(-1, []int64{4, 9, 14}) },
		recs:   []rec{{7, 1, 0}, {8, 1, 0}, {9, 1, 0}, {14, 1, 0}},
		want:   rs(7, 9, 10, 14),
	}, {
		name:   "records before the position were cut already and are skipped",
		resume: func(p *Planner[int]) { p.Resume(5, "") },
		recs:   []rec{{3, 1, 0}, {4, 1, 0}, {5, 1, 0}, {6, 1, 0}, {7, 1, 0}},
		want:   rs(5, 7),
	}, {
		name: "at the in-flight bound nothing unplanned is cut",
		recs: []rec{{0, 3, 0}, {1, 3, 0}, {2, 3, 0}, {3, 3, 0}, {4, 3, 0}, {5, 3, 0}},
		want: rs(0, 0, 1, 1, 2, 2, 3, 3),
	}} {
		t.Run(tc.name, func(t *testing.T) {
			p := New[int](lim())
			if tc.resume != nil {
				tc.resume(p)
			}
			if got := feed(p, tc.recs...); !slices.Equal(got, tc.want) {
				t.Fatalf("cut %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPlannerLinger(t *testing.T) {
	p := New[int](lim())
	if _, ok := p.LingerDeadline(); ok {
		t.Fatal("an empty partition has a linger deadline")
	}
	feed(p, rec{0, 1, 0}, rec{1, 1, 0})
	if d, ok := p.LingerDeadline(); !ok || !d.Equal(t0.Add(time.Second)) {
		t.Fatalf("deadline %v %v, want a second after the first record", d, ok)
	}
	if _, ok := p.Lingered(t0.Add(999 * time.Millisecond)); ok {
		t.Fatal("lingered before the deadline")
	}
	end, ok := p.Lingered(t0.Add(time.Second))
	if !ok || end != 1 {
		t.Fatalf("lingered %d %v, want the open batch to close at 1", end, ok)
	}
	if c := p.Close(end, 0); c.Range != (Range{0, 1}) {
		t.Fatalf("closed %v", c.Range)
	}

	// A planned batch waits for its end, however long it lingers.
	p = New[int](lim())
	p.Resume(0, "sp1:5")
	feed(p, rec{0, 1, 0})
	if _, ok := p.LingerDeadline(); ok {
		t.Fatal("a planned batch has a linger deadline")
	}
}

func TestPlannerCommitAndAcks(t *testing.T) {
	p := New[int](Limits{MaxRows: 2, MaxBytes: 1 << 20, Linger: time.Second, MaxInFlight: 8})
	if _, _, ok := p.Commit(); ok {
		t.Fatal("a partition at an unknown position commits")
	}
	feed(p, rec{0, 1, 0}, rec{1, 1, 0}, rec{2, 1, 0}, rec{3, 1, 0}, rec{4, 1, 0}, rec{5, 1, 0})
	cs := slices.Clone(p.InFlight())
	commit := func(wantOff int64, wantMeta string) {
		t.Helper()
		off, meta, ok := p.Commit()
		if !ok || off != wantOff || meta != wantMeta {
			t.Fatalf("commit %d %q %v, want %d %q", off, meta, ok, wantOff, wantMeta)
		}
	}
	commit(0, "sp1:1,3,5")
	p.Ack(cs[2])
	p.Ack(cs[1])
	commit(0, "sp1:1,3,5") // out-of-order acks do not pass the unacked first batch
	p.Ack(cs[0])
	commit(6, "sp1:")
	if len(p.InFlight()) != 0 {
		t.Fatalf("%d cuts in flight after every ack", len(p.InFlight()))
	}
}

func TestPlannerRewind(t *testing.T) {
	p := New[int](Limits{MaxRows: 2, MaxBytes: 1 << 20, Linger: time.Second, MaxInFlight: 8})
	p.Resume(0, "")
	feed(p, rec{0, 1, 0}, rec{1, 1, 0}, rec{2, 1, 0}, rec{3, 1, 0}, rec{4, 1, 0}, rec{5, 1, 0}, rec{6, 1, 0})
	cs := slices.Clone(p.InFlight())
	p.Ack(cs[0])
	dead := p.Rewind(cs[1])
	if len(dead) != 2 || dead[0] != cs[1] || dead[1] != cs[2] {
		t.Fatalf("rewind of the second cut dropped %v", dead)
	}
	if p.Pos() != 2 || !slices.Equal(p.Plan(), []int64{3, 5}) || p.Open() {
		t.Fatalf("after rewind pos %d plan %v open %v, want 2 [3 5] false", p.Pos(), p.Plan(), p.Open())
	}
	// The redelivery, with bigger records this time, cuts the same ranges.
	if got := feed(p, rec{2, 9, 0}, rec{3, 9, 0}, rec{4, 9, 0}, rec{5, 9, 0}); !slices.Equal(got, rs(2, 3, 4, 5)) {
		t.Fatalf("redelivery cut %v, want [2,3] [4,5]", got)
	}
	if p.Rewind(cs[1]) != nil {
		t.Fatal("a cut no longer in flight was rewound")
	}
}

// The exactly-once property: whoever resumes from a commit cuts exactly
// the ranges the committer had cut, whatever its own limits and timing.
func TestResumeCutsAsTheCommitterDid(t *testing.T) {
	a := New[int](Limits{MaxRows: 3, MaxBytes: 1 << 20, Linger: time.Second, MaxInFlight: 8})
	var recs []rec
	for off := range int64(20) {
		recs = append(recs, rec{off, 1 + int(off%3), int(off)})
	}
	want := feed(a, recs...)
	off, meta, _ := a.Commit() // nothing acked: the crash loses every ack
	b := New[int](Limits{MaxRows: 1000, MaxBytes: 1 << 30, Linger: time.Hour, MaxInFlight: 64})
	b.Resume(off, meta)
	if got := feed(b, recs...); !slices.Equal(got, want) {
		t.Fatalf("resumed cuts %v, want the committer's %v", got, want)
	}
}

func TestMetaIsCutShortForKafka(t *testing.T) {
	p := New[int](lim())
	ends := make([]int64, 0, 1000)
	for k := range int64(1000) {
		ends = append(ends, 1_000_000_000+k)
	}
	p.Replan(0, ends)
	off, meta, _ := p.Commit()
	if len(meta) > 4096 || !strings.HasSuffix(meta, ","+MetaMore) {
		t.Fatalf("metadata of %d bytes ending %q, want at most 4096 ending with the more marker", len(meta), meta[len(meta)-12:])
	}
	if Complete(off, meta) {
		t.Fatal("a plan cut short is complete: the next owner would not read the history")
	}
	if got := ParseMeta(meta, off); len(got) == 0 || !slices.Equal(got, ends[:len(got)]) {
		t.Fatalf("parsed %d ends, not a prefix of the plan", len(got))
	}
}

func TestParseMeta(t *testing.T) {
	f := func(meta string, from int64, want []int64) {
		t.Helper()
		if got := ParseMeta(meta, from); !slices.Equal(got, want) {
			t.Errorf("ParseMeta(%q, %d) = %v, want %v", meta, from, got, want)
		}
	}
	f("sp1:4,9,12", 0, []int64{4, 9, 12})
	f("sp1:", 5, nil)
	f("", 5, nil)
	f("checkpoint from another tool", 5, nil)
	f("sp2:4,9", 0, nil)
	// Only the valid, increasing prefix counts.
	f("sp1:4,9,7,12", 0, []int64{4, 9})
	f("sp1:4,x,12", 0, []int64{4})
	f("sp1:4,9,+", 0, []int64{4, 9})
	// Ends before the committed offset are of acknowledged cuts.
	f("sp1:4,9", 5, nil)
	f("sp1:5,9", 5, []int64{5, 9})

	for _, tc := range []struct {
		off  int64
		meta string
		want bool
	}{{7, "sp1:9", true}, {7, "sp1:", true}, {-1, "", false}, {7, "", false}, {7, "other", false}, {7, "sp1:9,+", false}} {
		if got := Complete(tc.off, tc.meta); got != tc.want {
			t.Errorf("Complete(%d, %q) = %v, want %v", tc.off, tc.meta, got, tc.want)
		}
	}
}

func TestFromHistory(t *testing.T) {
	f := func(from int64, stored []Range, wantStart int64, wantEnds []int64) {
		t.Helper()
		start, ends := FromHistory(stored, from)
		if start != wantStart || !slices.Equal(ends, wantEnds) {
			t.Errorf("from %d, stored %v: start %d ends %v, want %d %v", from, stored, start, ends, wantStart, wantEnds)
		}
	}
	f(-1, rs(0, 9, 10, 14, 15, 40), -1, []int64{9, 14, 40})
	f(-1, rs(15, 40, 0, 9), -1, []int64{9, 14, 40})
	f(12, rs(0, 9, 10, 14, 15, 40), 10, []int64{14, 40})
	f(-1, rs(0, 9, 0, 20, 5, 12, 10, 20), -1, []int64{9, 20})
	f(3, rs(7, 5), 3, nil) // an inverted range is ignored
}

func TestMergeEnds(t *testing.T) {
	for _, tc := range []struct{ a, b, want []int64 }{
		{nil, []int64{3, 5}, []int64{3, 5}},
		{[]int64{3, 9}, nil, []int64{3, 9}},
		{[]int64{3, 9}, []int64{5, 9, 12}, []int64{3, 5, 9, 12}},
	} {
		if got := MergeEnds(tc.a, tc.b); !slices.Equal(got, tc.want) {
			t.Errorf("MergeEnds(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
