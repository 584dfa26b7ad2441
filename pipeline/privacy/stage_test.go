package privacy

import (
	"context"
	"sync"
	"testing"

	"github.com/salespulse/salespulse/pipeline"
	"github.com/salespulse/salespulse/schemas"
)

func TestStagePseudonymisesEveryInteraction(t *testing.T) {
	p := newGolden(t)
	b := schemas.NewBatch(schemas.Origin{Topic: "t"}, nil)
	b.Interactions = append(b.Interactions,
		schemas.Interaction{EventID: "a", Contact: schemas.Contact{Email: " Anna.Schmidt@Example.com\t"}, Attributes: map[string]string{"notes": "called her at home", "campaign": "q4"}},
		schemas.Interaction{EventID: "b", Contact: schemas.Contact{Phone: "+49 (170) 123-4567", Name: "Anna"}},
		schemas.Interaction{EventID: "c"},
	)
	var s pipeline.Stage = p.NewStage()
	if err := s.Process(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	// The same golden pseudonyms as TestApplyGoldenContactKey.
	for k, want := range []string{"k2:Nrhd3MdXGa3iDFf15zajSA", "k2:dwX6ocbcJOBeUwVWXsvnVg", ""} {
		i := b.Interactions[k]
		if i.ContactKey != want {
			t.Errorf("interaction %s: ContactKey = %q, want %q", i.EventID, i.ContactKey, want)
		}
		if !i.Contact.IsZero() {
			t.Errorf("interaction %s: contact not cleared: %+v", i.EventID, i.Contact)
		}
	}
	if a := b.Interactions[0].Attributes; len(a) != 1 || a["campaign"] != "q4" {
		t.Errorf("attributes = %v, want only campaign kept", a)
	}
}

// Each worker's stage has its own hash state: stages made from one
// Pseudonymizer run concurrently (the race detector checks) and agree.
func TestStagesOfOnePseudonymizerRunConcurrently(t *testing.T) {
	p := newGolden(t)
	const workers, n = 4, 200
	keys := make([][]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		s := p.NewStage()
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := schemas.NewBatch(schemas.Origin{Topic: "t", Partition: int32(w)}, nil)
			for range n {
				b.Interactions = append(b.Interactions, schemas.Interaction{Contact: schemas.Contact{Email: "anna.schmidt@example.com"}})
			}
			s.Process(context.Background(), b)
			for _, i := range b.Interactions {
				keys[w] = append(keys[w], i.ContactKey)
			}
		}()
	}
	wg.Wait()
	for w := range keys {
		for _, k := range keys[w] {
			if k != "k2:Nrhd3MdXGa3iDFf15zajSA" {
				t.Fatalf("worker %d pseudonym %q, want k2:Nrhd3MdXGa3iDFf15zajSA", w, k)
			}
		}
	}
}
