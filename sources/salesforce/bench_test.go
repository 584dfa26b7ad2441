package salesforce

import (
	"os"
	"testing"

	"github.com/salespulse/salespulse/schemas"
)

// BenchmarkDecode measures one record value per iteration into a reused
// destination (as the Kafka source does with its batches). Compare changes:
//
//	go test ./sources/salesforce -run '^$' -bench BenchmarkDecode -count 5 -benchtime 200ms > old.txt
//	(change)
//	go test ./sources/salesforce -run '^$' -bench BenchmarkDecode -count 5 -benchtime 200ms > new.txt
//	benchstat old.txt new.txt
func BenchmarkDecode(b *testing.B) {
	for _, c := range []struct{ name, file string }{
		{"pubsub_opportunity_create", "testdata/opportunity_change_event_create_pubsub.json"}, // 1.3 KB, the vendor fixture
		{"pubsub_event_create", "testdata/event_change_event_create_meeting.json"},            // 1.6 KB, the vendor fixture
		{"pubsub_lead_create", "testdata/lead_create_pubsub_unknown_owner.json"},
		{"cometd_opportunity_update", "testdata/opportunity_update_stage_cometd_enriched.json"},
		{"cometd_task_call", "testdata/task_call_outbound_cometd.json"},
	} {
		b.Run(c.name, func(b *testing.B) {
			value, err := os.ReadFile(c.file)
			if err != nil {
				b.Fatal(err)
			}
			d := newTestDecoder(b, Config{})
			dst := make([]schemas.Interaction, 0, 1)
			b.SetBytes(int64(len(value)))
			b.ReportAllocs()
			events := 0
			for b.Loop() {
				dst, err = d.Decode(dst[:0], value)
				if err != nil || len(dst) != 1 {
					b.Fatalf("%v %d", err, len(dst))
				}
				events += len(dst)
			}
			b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
