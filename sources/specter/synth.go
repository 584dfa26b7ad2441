package specter

import (
	"strconv"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/signals"
	"github.com/salespulse/salespulse/sources/vendorkit"
)

// synth renders a generated market signal as a Specter news-signals
// response holding that one signal.
type synth struct{}

func (synth) Carries(in *schemas.Interaction, _ *vendorkit.SynthRep) vendorkit.Carry {
	if in.Type == schemas.TypeAccountSignal && in.Attributes[schemas.AttrSignalDomain] != "" {
		return vendorkit.CarryNative
	}
	return vendorkit.CarryNo
}

var categories = map[string]string{
	schemas.SignalFundingRound: "funding", schemas.SignalNews: "product",
	schemas.SignalExecutiveChange: "leadership", schemas.SignalHiringSurge: "hiring",
}

func (synth) Encode(e *vendorkit.Synth, in *schemas.Interaction, key []byte, _ *vendorkit.SynthRep) {
	a := in.Attributes
	kind := a[schemas.AttrSignalKind]
	day := in.OccurredAt.UTC().Truncate(24 * time.Hour)
	s := Signal{SignalID: int64(e.Seq) + 1_000_000, ArticleID: int64(e.Seq), ArticleURL: a[schemas.AttrSignalURL],
		Categories: []string{categories[kind]}, MeaningfulUpdates: []string{},
		PublishedDate: day.Format(time.DateOnly), FetchedAt: in.OccurredAt.UTC().Format(time.RFC3339),
		Title: "Company update", EntityID: "66d9" + e.SeedText, CompanyName: a[schemas.AttrSignalCompany],
		CompanyDomain: a[schemas.AttrSignalDomain], Score: 3}
	if kind == schemas.SignalFundingRound {
		s.MeaningfulUpdates = []string{"FUNDING_UPDATE"}
	}
	all := []Signal{s}
	if e.Rand.IntN(8) == 0 { // now and then the empty last page of a poll: a valid record without signals
		n := e.Record(key)
		n.Value = append(n.Value, `[]`...)
	}
	r := e.Record(key)
	r.Value, _ = json.Append(r.Value, all, 0)
	if e.Expect {
		x := e.Want(r, in, strconv.FormatInt(s.SignalID, 10))
		x.OccurredAt, x.RepID, x.TeamID = day, "", ""
		signals.Attrs(x, kindOf(&s), schemas.NormaliseDomain(s.CompanyDomain), s.CompanyName, s.ArticleURL, s.Categories[0])
	}
}
