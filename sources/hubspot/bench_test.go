package hubspot

import (
	"fmt"
	"strings"
	"testing"

	"github.com/salespulse/salespulse/schemas"
)

// BenchmarkDecode decodes one POST body of 100 events (about 290 bytes
// each, the size of HubSpot's documented events) into a reused destination.
//
//	go test ./sources/hubspot -run '^$' -bench BenchmarkDecode -count 5 -benchtime 200ms > old.txt
//	(change)
//	go test ./sources/hubspot -run '^$' -bench BenchmarkDecode -count 5 -benchtime 200ms > new.txt
//	benchstat old.txt new.txt
func BenchmarkDecode(b *testing.B) {
	var sb strings.Builder
	sb.WriteByte('[')
	for k := 0; k < 100; k++ {
		if k > 0 {
			sb.WriteByte(',')
		}
		if k%2 == 0 {
			fmt.Fprintf(&sb, `{"objectId":%d,"propertyName":"dealstage","propertyValue":"qualifiedtobuy","changeSource":"CRM_UI","sourceId":"userId:4242","eventId":%d,"subscriptionId":301,"portalId":62515,"appId":1160452,"occurredAt":1714411236123,"subscriptionType":"deal.propertyChange","attemptNumber":0}`, 9000+k, 100000+k)
		} else {
			fmt.Fprintf(&sb, `{"objectId":%d,"changeSource":"FORM","sourceId":"userId:4242","changeFlag":"NEW","eventId":%d,"subscriptionId":22,"portalId":62515,"appId":1160452,"occurredAt":1714411236123,"subscriptionType":"contact.creation","attemptNumber":0}`, 5000+k, 200000+k)
		}
	}
	sb.WriteByte(']')
	value := []byte(sb.String())
	d := newTestDecoder(b, Config{})
	dst := make([]schemas.Interaction, 0, 100)
	b.SetBytes(int64(len(value)))
	b.ReportAllocs()
	events := 0
	var err error
	for b.Loop() {
		dst, err = d.Decode(dst[:0], value)
		if err != nil || len(dst) != 100 {
			b.Fatalf("%v %d", err, len(dst))
		}
		events += len(dst)
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}
