package console

import (
	"net/http"
	"time"
)

// The sales-intelligence endpoints (issue 16): forecast accuracy, deal
// scores and market-signal tasks.

// maxListRows bounds the limit of /api/v1/deals/scores and
// /api/v1/signals, as maxAlerts does the alerts'.
const maxListRows = 1000

type forecastRow struct {
	TeamID         string   `ch:"team_id" json:"team_id"`
	RepID          string   `ch:"rep_id" json:"rep_id"`
	PeriodKind     string   `ch:"period_kind" json:"period_kind"`
	PeriodStart    string   `ch:"period_start_str" json:"period_start"`
	Period         string   `ch:"period" json:"period"`
	Category       string   `ch:"category" json:"category"`
	Currency       string   `ch:"currency_str" json:"currency"`
	Forecast       *float64 `ch:"forecast_f" json:"forecast"`
	ClosedWon      float64  `ch:"closed_won_f" json:"closed_won"`
	WonDeals       uint64   `ch:"won_deals_n" json:"won_deals"`
	Accuracy       *float64 `ch:"accuracy_f" json:"accuracy"`
	Bias           *float64 `ch:"bias_f" json:"bias"`
	PrevAccuracy   *float64 `ch:"prev_accuracy_f" json:"prev_accuracy"`
	AccuracyChange *float64 `ch:"accuracy_change_f" json:"accuracy_change"`
	InProgress     bool     `ch:"-" json:"in_progress"`
}

// forecast is kbi_forecast_accuracy's team rows (rep_id "") and rep rows
// for the periods overlapping the range.
func (s *Server) forecast(r *http.Request) (any, error) {
	f, err := s.parseFilter(r)
	if err != nil {
		return nil, err
	}
	rows := []forecastRow{}
	if err := s.deps.Store.Select(r.Context(), &rows, s.q.forecast, f.params()); err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return map[string]any{"rows": rows}, nil
	}
	// A period still running has only part of its closed-won amount, and
	// an accuracy far below what it will be: flag it, so that nobody
	// reads -300 % as a team's forecasting.
	last, err := s.lastDay(r.Context())
	if err != nil {
		return nil, err
	}
	for k := range rows {
		x := &rows[k]
		x.Forecast, x.Accuracy, x.Bias = nullPtr(x.Forecast), nullPtr(x.Accuracy), nullPtr(x.Bias)
		x.PrevAccuracy, x.AccuracyChange = nullPtr(x.PrevAccuracy), nullPtr(x.AccuracyChange)
		x.InProgress = periodInProgress(x.PeriodKind, x.PeriodStart, last)
	}
	return map[string]any{"rows": rows}, nil
}

type scoredDeal struct {
	OpportunityID string   `json:"opportunity_id"`
	AccountID     string   `json:"account_id"`
	RepID         string   `json:"rep_id"`
	TeamID        string   `json:"team_id"`
	ScoredAt      string   `json:"scored_at"`
	Probability   float64  `json:"probability"`
	Reasons       []string `json:"reasons"`
}

// scores is the open deals least likely to close (deal_scores_open), with
// their reasons, and how all open deals spread over tenths of
// probability. Without a deal-risk model nothing is scored: total 0.
func (s *Server) scores(r *http.Request) (any, error) {
	q := r.URL.Query()
	limit, err := intParam(q, "limit", 100, 1, min(maxListRows, s.cfg.MaxRows))
	if err != nil {
		return nil, err
	}
	team, err := optionalID(q, "team")
	if err != nil {
		return nil, err
	}
	var scan []struct {
		OpportunityID string    `ch:"opportunity_id"`
		AccountID     string    `ch:"account_id"`
		RepID         string    `ch:"rep_id"`
		TeamID        string    `ch:"team_id"`
		ScoredAt      time.Time `ch:"scored_at"`
		Probability   float64   `ch:"probability"`
		Reasons       []string  `ch:"reasons"`
	}
	p := map[string]string{"team": team, "limit": itoa(limit)}
	if err := s.deps.Store.Select(r.Context(), &scan, s.q.scores, p); err != nil {
		return nil, err
	}
	var buckets []struct {
		Bucket uint8  `ch:"bucket"`
		N      uint64 `ch:"n"`
	}
	if err := s.deps.Store.Select(r.Context(), &buckets, s.q.scoreBuckets, map[string]string{"team": team}); err != nil {
		return nil, err
	}
	deals := make([]scoredDeal, 0, len(scan))
	for _, x := range scan {
		reasons := x.Reasons
		if reasons == nil {
			reasons = []string{}
		}
		deals = append(deals, scoredDeal{OpportunityID: x.OpportunityID, AccountID: x.AccountID, RepID: x.RepID,
			TeamID: x.TeamID, ScoredAt: x.ScoredAt.UTC().Format(time.RFC3339Nano), Probability: x.Probability, Reasons: reasons})
	}
	dist := make([]uint64, 10)
	var total uint64
	for _, b := range buckets {
		if b.Bucket < 10 {
			dist[b.Bucket] += b.N
			total += b.N
		}
	}
	return map[string]any{"deals": deals, "total": total, "distribution": dist}, nil
}

type signalTask struct {
	ID        string `json:"id"`
	At        string `json:"at"`
	TeamID    string `json:"team_id"`
	RepID     string `json:"rep_id"`
	AccountID string `json:"account_id"`
	Kind      string `json:"kind"`
	Source    string `json:"source"`
	URL       string `json:"url"`
	Summary   string `json:"summary"`
}

// signals is the market_signal tasks fired in the range, newest first,
// their total, and the signals of the range still unmatched.
func (s *Server) signals(r *http.Request) (any, error) {
	// limit first: parseFilter may query for the newest day, and a bad
	// request runs no query.
	limit, err := intParam(r.URL.Query(), "limit", 100, 1, min(maxListRows, s.cfg.MaxRows))
	if err != nil {
		return nil, err
	}
	f, err := s.parseFilter(r)
	if err != nil {
		return nil, err
	}
	p := f.params()
	var counts []struct {
		Tasks     uint64 `ch:"tasks"`
		Unmatched uint64 `ch:"unmatched"`
	}
	if err := s.deps.Store.Select(r.Context(), &counts, s.q.signalCounts, p); err != nil {
		return nil, err
	}
	p["limit"] = itoa(limit)
	var scan []struct {
		ID        string    `ch:"id"`
		At        time.Time `ch:"at"`
		TeamID    string    `ch:"team_id"`
		RepID     string    `ch:"rep_id"`
		AccountID string    `ch:"account_id"`
		Kind      string    `ch:"kind"`
		Source    string    `ch:"source"`
		URL       string    `ch:"url"`
		Summary   string    `ch:"summary"`
	}
	if err := s.deps.Store.Select(r.Context(), &scan, s.q.signals, p); err != nil {
		return nil, err
	}
	tasks := make([]signalTask, 0, len(scan))
	for _, x := range scan {
		tasks = append(tasks, signalTask{ID: x.ID, At: x.At.UTC().Format(time.RFC3339Nano), TeamID: x.TeamID, RepID: x.RepID,
			AccountID: x.AccountID, Kind: x.Kind, Source: x.Source, URL: x.URL, Summary: x.Summary})
	}
	out := map[string]any{"tasks": tasks, "total": uint64(0), "unmatched": uint64(0)}
	if len(counts) > 0 {
		out["total"], out["unmatched"] = counts[0].Tasks, counts[0].Unmatched
	}
	return out, nil
}

// periodInProgress tells whether a period (month, or quarter) from start
// has not ended by last, the newest day in the data: it is complete only
// once there is data from a day after it.
func periodInProgress(kind, start string, last time.Time) bool {
	t, err := time.Parse(time.DateOnly, start)
	if err != nil {
		return true
	}
	end := t.AddDate(0, 1, 0)
	if kind == "quarter" {
		end = t.AddDate(0, 3, 0)
	}
	return last.Before(end)
}
