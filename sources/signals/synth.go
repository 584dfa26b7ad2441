package signals

import (
	"github.com/segmentio/encoding/json"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/vendorkit"
)

// synth renders generated market signals as canonical signals: one JSON
// object per record, keyed by the company's domain.
type synth struct{}

func (synth) Carries(in *schemas.Interaction, _ *vendorkit.SynthRep) vendorkit.Carry {
	if in.Type == schemas.TypeAccountSignal {
		return vendorkit.CarryNative
	}
	return vendorkit.CarryNo
}

func (synth) Encode(e *vendorkit.Synth, in *schemas.Interaction, key []byte, _ *vendorkit.SynthRep) {
	a := in.Attributes
	s := Signal{SignalID: in.EventID, OccurredAt: in.OccurredAt.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		Kind: a[schemas.AttrSignalKind], Source: in.Source, URL: a[schemas.AttrSignalURL], AccountID: in.AccountID,
		Domain: a[schemas.AttrSignalDomain], Name: a[schemas.AttrSignalCompany]}
	if e.Rand.IntN(8) == 0 { // an empty array now and then (a relay flushing nothing): a valid record without signals
		n := e.Record(key)
		n.Value = append(n.Value, `[]`...)
	}
	r := e.Record(key)
	r.Value, _ = json.Append(r.Value, &s, 0)
	if e.Expect {
		w := e.Want(r, in, in.EventID)
		w.Source, w.AccountID, w.OccurredAt = in.Source, in.AccountID, in.OccurredAt.Truncate(1e6).UTC()
		Attrs(w, s.Kind, schemas.NormaliseDomain(s.Domain), s.Name, s.URL, "")
	}
}
