package window

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"slices"
	"testing"
	"time"

	"github.com/salespulse/salespulse/pipeline/state"
)

// hashingStore hashes every record the stage saves: Saves in order, the
// records of one Save as a set (their order follows map iteration after a
// restore; a key is saved at most once per Save here).
type hashingStore struct {
	*state.Memory
	h    hash.Hash
	recs int
	dels int
}

func (s *hashingStore) Save(ctx context.Context, ns state.Namespace, topic string, partition int32, recs []state.Record) error {
	var sums []string
	for _, r := range recs {
		b := binary.AppendUvarint(nil, uint64(len(r.Key)))
		b = append(b, r.Key...)
		if r.Value == nil {
			b = append(b, 0xff) // a deletion, unlike an empty value
			s.dels++
		} else {
			b = binary.AppendUvarint(b, uint64(len(r.Value)))
			b = append(b, r.Value...)
		}
		sum := sha256.Sum256(b)
		sums = append(sums, string(sum[:]))
		s.recs++
	}
	slices.Sort(sums)
	for _, x := range sums {
		s.h.Write([]byte(x))
	}
	s.h.Write([]byte{0}) // end of a Save
	return s.Memory.Save(ctx, ns, topic, partition, recs)
}

// TestCheckpointBytesAreStable: deployed state restores from these bytes,
// and the state store's migration of the old changelog depends on their
// layout, so a refactoring must not change one byte of what the stage
// saves. Leads and approvals are opened, answered, expired, garbage
// collected behind the committed offset (bases, tombstones) and restored
// after a redelivery. If the format must change, bump codecVersion or
// metaVersion, keep decoding the old one, and update the hash.
func TestCheckpointBytesAreStable(t *testing.T) {
	const want = "847f6446b717076620a3e6a335a7a087909160e328c3b6b8676870fe394eb274"
	st := &hashingStore{Memory: state.NewMemory(), h: sha256.New()}
	cfg := Config{OutOfOrderness: 5 * time.Minute, AllowedLateness: 10 * time.Minute, LeadExpiry: 2 * time.Hour,
		ApprovalExpiry: 3 * time.Hour}
	events := replayStream()
	const per = 50
	s := newStoreWindow(t, cfg, st).NewStage()
	redelivered := false
	for off := int64(0); off < int64(len(events)); off += per {
		if err := s.Process(context.Background(), batchAt(0, off, events[off:off+per]...)); err != nil {
			t.Fatalf("batch at %d: %v", off, err)
		}
		if off%(7*per) == 0 {
			st.SetCommitted("in", 0, off) // the group commits behind the stage
		}
		if off == 1500 && !redelivered {
			// A redelivery from an earlier offset: the partition restores.
			s = newStoreWindow(t, cfg, st).NewStage()
			off -= 3 * per
			redelivered = true
		}
	}
	if st.dels == 0 || !redelivered {
		t.Fatalf("the stream saved %d deletions, redelivered %v: it no longer covers tombstones and restores", st.dels, redelivered)
	}
	got := hex.EncodeToString(st.h.Sum(nil))
	if got != want {
		t.Fatalf("%d saved records hash to %s, want %s", st.recs, got, want)
	}
}
