package dealscore

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
)

// Example is one closed deal: its features as of the close, and whether
// it was won.
type Example struct {
	ID  string // opportunity id
	At  int64  // close, unix ms
	X   Vector
	Won bool
}

// Model is a logistic regression on standardised features:
// p = σ(Intercept + Σ Coef[j]·(x[j]−Mean[j])/Scale[j]).
//
// It is trained by a fixed number of full-batch gradient descent steps
// with L2 regularisation, from zero weights, over the examples in
// (At, ID) order: no randomness, no threads, no early stop, so the same
// examples give the same float64 weights, bit for bit.
type Model struct {
	Features   []string  `json:"features"`
	Mean       []float64 `json:"mean"`
	Scale      []float64 `json:"scale"`
	Coef       []float64 `json:"coef"`
	Intercept  float64   `json:"intercept"`
	BaseRate   float64   `json:"base_rate"` // share won among the training examples
	Examples   int       `json:"examples"`
	Iterations int       `json:"iterations"`
	L2         float64   `json:"l2"`
	Rate       float64   `json:"learning_rate"`
}

// TrainOptions tune Train. Zero fields get the defaults.
type TrainOptions struct {
	Iterations int     // default 2000
	L2         float64 // default 0.01 (per example, on standardised weights)
	Rate       float64 // default 0.5
}

// ErrNoExamples: training needs won and lost deals.
var ErrNoExamples = errors.New("training needs at least one won and one lost deal")

// Train fits a model to ex (which it sorts by close time and id).
func Train(ex []Example, o TrainOptions) (*Model, error) {
	if o.Iterations == 0 {
		o.Iterations = 2000
	}
	if o.L2 == 0 {
		o.L2 = 0.01
	}
	if o.Rate == 0 {
		o.Rate = 0.5
	}
	slices.SortFunc(ex, func(a, b Example) int {
		return cmp.Or(cmp.Compare(a.At, b.At), cmp.Compare(a.ID, b.ID))
	})
	won := 0
	for _, e := range ex {
		if e.Won {
			won++
		}
	}
	if won == 0 || won == len(ex) {
		return nil, ErrNoExamples
	}
	n := float64(len(ex))
	m := &Model{Features: Names[:], Mean: make([]float64, NumFeatures), Scale: make([]float64, NumFeatures),
		Coef: make([]float64, NumFeatures), BaseRate: float64(won) / n, Examples: len(ex),
		Iterations: o.Iterations, L2: o.L2, Rate: o.Rate}
	for j := range NumFeatures {
		s := 0.0
		for _, e := range ex {
			s += e.X[j]
		}
		m.Mean[j] = s / n
		v := 0.0
		for _, e := range ex {
			d := e.X[j] - m.Mean[j]
			v += d * d
		}
		m.Scale[j] = math.Sqrt(v / n)
		if m.Scale[j] == 0 {
			m.Scale[j] = 1 // a constant feature: its weight stays 0
		}
	}
	z := make([]Vector, len(ex))
	for k, e := range ex {
		z[k] = m.standardise(&e.X)
	}
	m.Intercept = math.Log(m.BaseRate / (1 - m.BaseRate))
	var g Vector
	for range o.Iterations {
		g = Vector{}
		g0 := 0.0
		for k := range ex {
			y := 0.0
			if ex[k].Won {
				y = 1
			}
			r := m.link(&z[k]) - y
			g0 += r
			for j := range NumFeatures {
				g[j] += r * z[k][j]
			}
		}
		m.Intercept -= o.Rate * g0 / n
		for j := range NumFeatures {
			m.Coef[j] -= o.Rate * (g[j]/n + o.L2*m.Coef[j])
		}
	}
	return m, nil
}

func (m *Model) standardise(x *Vector) Vector {
	var z Vector
	for j := range NumFeatures {
		z[j] = (x[j] - m.Mean[j]) / m.Scale[j]
	}
	return z
}

func (m *Model) logit(z *Vector) float64 {
	s := m.Intercept
	for j := range NumFeatures {
		s += m.Coef[j] * z[j]
	}
	return s
}

func (m *Model) link(z *Vector) float64 { return sigmoid(m.logit(z)) }

func sigmoid(s float64) float64 { return 1 / (1 + math.Exp(-s)) }

// Probability is the model's win probability for x.
func (m *Model) Probability(x *Vector) float64 {
	z := m.standardise(x)
	return m.link(&z)
}

// Reason is one feature's contribution to a score.
type Reason struct {
	Feature string
	Value   float64
	// Logit is Coef·z: the feature's share of the log-odds, against an
	// opportunity at the training mean.
	Logit float64
	// Delta is what the feature moved the probability: the score minus
	// the score with this feature at the training mean. Same sign as
	// Logit.
	Delta float64
	Text  string // in words: "no meeting in 30 days (−0.12)"
}

// Explain returns the probability for x and its top k reasons, by
// absolute contribution (ties by feature order).
func (m *Model) Explain(x *Vector, k int) (float64, []Reason) {
	z := m.standardise(x)
	s := m.logit(&z)
	p := sigmoid(s)
	rs := make([]Reason, 0, NumFeatures)
	for j := range NumFeatures {
		c := m.Coef[j] * z[j]
		if c == 0 {
			continue
		}
		r := Reason{Feature: Names[j], Value: x[j], Logit: c, Delta: p - sigmoid(s-c)}
		r.Text = Words(j, x[j]) + " (" + signed(r.Delta) + ")"
		rs = append(rs, r)
	}
	slices.SortStableFunc(rs, func(a, b Reason) int { return cmp.Compare(math.Abs(b.Logit), math.Abs(a.Logit)) })
	return p, rs[:min(k, len(rs))]
}

// Negative returns the reasons that lowered the score, in order.
func Negative(rs []Reason) []Reason {
	var out []Reason
	for _, r := range rs {
		if r.Delta < 0 {
			out = append(out, r)
		}
	}
	return out
}

func signed(d float64) string {
	s := strconv.FormatFloat(math.Abs(d), 'f', 2, 64)
	if d < 0 {
		return "−" + s
	}
	return "+" + s
}

// Words says feature j's value in words.
func Words(j int, v float64) string {
	n := strconv.FormatFloat(v, 'f', -1, 64)
	count := func(what, window string) string {
		switch v {
		case 0:
			return "no " + what + " in " + window
		case 1:
			return "1 " + what + " in " + window
		}
		return n + " " + what + "s in " + window
	}
	switch j {
	case FEmail7d:
		return count("e-mail", "7 days")
	case FPhone7d:
		return count("call", "7 days")
	case FSocial7d:
		return count("social touch", "7 days")
	case FMeetings7d:
		return count("meeting", "7 days")
	case FEmail30d:
		return count("e-mail", "30 days")
	case FPhone30d:
		return count("call", "30 days")
	case FSocial30d:
		return count("social touch", "30 days")
	case FMeetings30d:
		return count("meeting", "30 days")
	case FFirstResponseH:
		return "first touch " + strconv.FormatFloat(v, 'f', 1, 64) + " h after opening"
	case FMeetings:
		return count("meeting", "the deal so far")
	case FDiscountPct:
		if v == 0 {
			return "no discount quoted"
		}
		return "discount " + n + " %"
	case FStageAgeD:
		return strconv.FormatFloat(v, 'f', 0, 64) + " days in stage"
	case FCycleD:
		return "open " + strconv.FormatFloat(v, 'f', 0, 64) + " days"
	case FApprovals:
		return count("approval request", "the deal")
	case FRejected:
		return count("rejected approval", "the deal")
	case FStage:
		if k := int(v); k >= 0 && k < len(Stages) {
			return "stage " + Stages[k]
		}
	}
	return Names[j] + " " + n
}

// Marshal is the model file: JSON with float64s written so they read
// back to the same bits (strconv 'g' -1 is the shortest round trip).
func (m *Model) Marshal() ([]byte, error) { return json.MarshalIndent(m, "", "  ") }

// ID is a short hash of the model file: deal_scores rows name the model
// that scored them.
func (m *Model) ID() string {
	b, err := m.Marshal()
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

// ErrModel: a model file that does not fit this build's features.
var ErrModel = errors.New("deal score model does not match the features")

// Unmarshal reads a model file and checks it against Names.
func Unmarshal(b []byte) (*Model, error) {
	m := &Model{}
	if err := json.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("read deal score model: %w", err)
	}
	if !slices.Equal(m.Features, Names[:]) || len(m.Mean) != NumFeatures || len(m.Scale) != NumFeatures || len(m.Coef) != NumFeatures {
		return nil, fmt.Errorf("read deal score model: %w: want features %v", ErrModel, Names)
	}
	return m, nil
}
