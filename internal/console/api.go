package console

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/salespulse/salespulse/schemas"
)

// NormInteractionsPerDay is the activity norm the console draws: about
// 147 interactions per rep and working day.
const NormInteractionsPerDay = 147

// maxAlerts bounds /api/v1/alerts?limit.
const maxAlerts = 1000

type metaTeam struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	ManagerID string    `json:"manager_id"`
	Reps      []metaRep `json:"reps"`
}

type metaRep struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type metaDays struct {
	First *string `json:"first"`
	Last  *string `json:"last"`
}

func (s *Server) meta(r *http.Request) (any, error) {
	var rows []struct {
		N     uint64 `ch:"n"`
		First string `ch:"first"`
		Last  string `ch:"last"`
	}
	if err := s.deps.Store.Select(r.Context(), &rows, s.q.meta, nil); err != nil {
		return nil, err
	}
	var days metaDays
	if len(rows) > 0 && rows[0].N > 0 {
		days = metaDays{&rows[0].First, &rows[0].Last}
	}
	teams := []metaTeam{}
	byTeam := map[string]int{}
	for _, t := range s.deps.Org.Teams {
		byTeam[t.ID] = len(teams)
		teams = append(teams, metaTeam{ID: t.ID, Name: t.Name, ManagerID: t.ManagerID, Reps: []metaRep{}})
	}
	for _, rep := range s.deps.Org.Reps {
		if k, ok := byTeam[rep.TeamID]; ok {
			teams[k].Reps = append(teams[k].Reps, metaRep{ID: rep.ID, Name: rep.Name})
		}
	}
	return map[string]any{
		"version": s.deps.Version, "teams": teams, "days": days,
		"norm_interactions_per_day": NormInteractionsPerDay, "ack": s.deps.Ack != nil,
	}, nil
}

// overview is the pipeline's state: the process's metrics and what
// ClickHouse holds.
func (s *Server) overview(r *http.Request) (any, error) {
	var rows []struct {
		Stored uint64    `ch:"stored_rows"`
		Last   time.Time `ch:"last_store_at"`
	}
	if err := s.deps.Store.Select(r.Context(), &rows, s.q.overview, nil); err != nil {
		return nil, err
	}
	var series []struct {
		T int64  `ch:"t"`
		N uint64 `ch:"n"`
	}
	if err := s.deps.Store.Select(r.Context(), &series, s.q.series, nil); err != nil {
		return nil, err
	}
	perMin := make([][2]int64, 0, len(series))
	for _, p := range series {
		perMin = append(perMin, [2]int64{p.T, int64(p.N)})
	}
	out := map[string]any{"events_per_s": 0.0, "consumer_lag": int64(0), "stored_rows": uint64(0),
		"dead_letters": []deadLetters{}, "last_store_at": nil, "series": map[string]any{"events_per_min": perMin}}
	if len(rows) > 0 {
		out["stored_rows"] = rows[0].Stored
		if rows[0].Stored > 0 {
			out["last_store_at"] = rows[0].Last.UTC().Format(time.RFC3339)
		}
	}
	if s.deps.Gatherer != nil {
		mfs, err := s.deps.Gatherer.Gather()
		if err != nil {
			return nil, fmt.Errorf("gather metrics: %w", err)
		}
		out["events_per_s"] = s.eventRate(sumMetric(mfs, "salespulse_pipeline_interactions_stored_total", "pipeline", "ingest"))
		out["consumer_lag"] = int64(sumMetric(mfs, "salespulse_kafka_consumer_lag", "", ""))
		out["dead_letters"] = deadLettersByRule(mfs)
	}
	return out, nil
}

// eventRate is the stored-events counter's rate between this call and
// the last one at least a second before it (0 on the first call). The
// registry holds counters, not rates; the console keeps one sample.
func (s *Server) eventRate(n float64) float64 {
	now := s.deps.Now()
	s.rateMu.Lock()
	defer s.rateMu.Unlock()
	if dt := now.Sub(s.rateAt).Seconds(); !s.rateAt.IsZero() && dt >= 1 {
		if n >= s.rateN {
			s.rateLast = (n - s.rateN) / dt
		}
		s.rateAt, s.rateN = now, n
	} else if s.rateAt.IsZero() {
		s.rateAt, s.rateN = now, n
	}
	return s.rateLast
}

type deadLetters struct {
	Reason string `json:"reason"`
	Count  int64  `json:"count"`
}

func deadLettersByRule(mfs []*dto.MetricFamily) []deadLetters {
	by := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "salespulse_kafka_dead_letters_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			by[label(m, "rule")] += m.GetCounter().GetValue()
		}
	}
	out := []deadLetters{}
	for _, k := range slices.Sorted(maps.Keys(by)) {
		out = append(out, deadLetters{k, int64(by[k])})
	}
	return out
}

// sumMetric adds a counter's or gauge's series, those with label = value
// only when label is set.
func sumMetric(mfs []*dto.MetricFamily, name, lbl, value string) float64 {
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if lbl != "" && label(m, lbl) != value {
				continue
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

type responseRow struct {
	Day         string   `json:"day,omitempty"`
	TeamID      string   `json:"team_id"`
	RepID       *string  `json:"rep_id,omitempty"`
	Leads       uint64   `json:"leads"`
	Answered    uint64   `json:"answered"`
	Unanswered  uint64   `json:"unanswered"`
	P50         *float64 `json:"p50_s"`
	P90         *float64 `json:"p90_s"`
	SLA         float64  `json:"sla_s"`
	WithinSLA   uint64   `json:"within_sla"`
	Attainment  *float64 `json:"attainment"`
	Provisional bool     `json:"provisional"`
}

type responseScan struct {
	Day         string    `ch:"day_str"`
	TeamID      string    `ch:"team_id"`
	Owner       string    `ch:"owner"`
	Leads       uint64    `ch:"leads"`
	Answered    uint64    `ch:"answered"`
	Unanswered  uint64    `ch:"unanswered"`
	Q           []float64 `ch:"q"`
	WithinSLA   uint64    `ch:"within_sla"`
	Provisional uint8     `ch:"provisional"`
}

func (s *Server) response(r *http.Request) (any, error) { return s.responseBy(r, false) }

func (s *Server) responseReps(r *http.Request) (any, error) { return s.responseBy(r, true) }

func (s *Server) responseBy(r *http.Request, reps bool) (any, error) {
	f, err := s.parseFilter(r)
	if err != nil {
		return nil, err
	}
	p := f.params()
	s.slaParams(p)
	var scan []responseScan
	q := s.q.response
	if reps {
		q = s.q.responseReps
	}
	if err := s.deps.Store.Select(r.Context(), &scan, q, p); err != nil {
		return nil, err
	}
	rows := make([]responseRow, 0, len(scan))
	for _, x := range scan {
		sla, _ := s.deps.SLA(x.TeamID, "")
		row := responseRow{TeamID: x.TeamID, Leads: x.Leads, Answered: x.Answered, Unanswered: x.Unanswered,
			SLA: sla.Seconds(), WithinSLA: x.WithinSLA, Attainment: ratio(x.WithinSLA, x.Leads), Provisional: x.Provisional == 1}
		if reps {
			row.RepID = &x.Owner
		} else {
			row.Day = x.Day
		}
		if x.Answered > 0 && len(x.Q) == 2 {
			row.P50, row.P90 = nullable(x.Q[0]), nullable(x.Q[1])
		}
		rows = append(rows, row)
	}
	return map[string]any{"rows": rows}, nil
}

// slaParams adds the SLAs of the org's teams per trigger channel, and the
// default for other teams, as map parameters (see sqlResponse).
func (s *Server) slaParams(p map[string]string) {
	var sla, biz []string
	for _, t := range s.deps.Org.Teams {
		if !idPattern.MatchString(t.ID) {
			continue // cannot be quoted safely, and no request can name it
		}
		for _, ch := range schemas.Channels() {
			d, b := s.deps.SLA(t.ID, ch.String())
			k := "'" + t.ID + "/" + ch.String() + "'"
			sla = append(sla, k+":"+strconv.FormatFloat(d.Seconds(), 'f', -1, 64))
			biz = append(biz, k+":"+boolDigit(b))
		}
	}
	d, b := s.deps.SLA("", "")
	p["sla"] = "{" + strings.Join(sla, ",") + "}"
	p["biz"] = "{" + strings.Join(biz, ",") + "}"
	p["sla_default"] = strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
	p["biz_default"] = boolDigit(b)
}

func boolDigit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

type activityRow struct {
	Day          string `ch:"day_str" json:"day"`
	TeamID       string `ch:"team_id" json:"team_id"`
	RepID        string `ch:"rep_id" json:"rep_id"`
	Interactions uint64 `ch:"interactions" json:"interactions"`
	Emails       uint64 `ch:"emails" json:"emails"`
	Calls        uint64 `ch:"calls" json:"calls"`
	Meetings     uint64 `ch:"meetings" json:"meetings"`
	Social       uint64 `ch:"social" json:"social"`
	Chats        uint64 `ch:"chats" json:"chats"`
}

func (s *Server) activity(r *http.Request) (any, error) {
	f, err := s.parseFilter(r)
	if err != nil {
		return nil, err
	}
	rows := []activityRow{}
	if err := s.deps.Store.Select(r.Context(), &rows, s.q.activity, f.params()); err != nil {
		return nil, err
	}
	return map[string]any{"rows": rows, "norm": NormInteractionsPerDay}, nil
}

type accountsRow struct {
	RepID      string   `json:"rep_id"`
	TeamID     string   `json:"team_id"`
	Accounts   uint64   `json:"accounts"`
	Target     *uint32  `json:"target"`
	Attainment *float64 `json:"attainment"`
}

func (s *Server) accounts(r *http.Request) (any, error) {
	f, err := s.parseFilter(r)
	if err != nil {
		return nil, err
	}
	var scan []struct {
		RepID    string `ch:"rep_id"`
		TeamID   string `ch:"team_id"`
		Accounts uint64 `ch:"accounts"`
		Target   uint32 `ch:"target"`
	}
	if err := s.deps.Store.Select(r.Context(), &scan, s.q.accounts, f.params()); err != nil {
		return nil, err
	}
	rows := make([]accountsRow, 0, len(scan))
	for _, x := range scan {
		row := accountsRow{RepID: x.RepID, TeamID: x.TeamID, Accounts: x.Accounts}
		if x.Target > 0 {
			row.Target, row.Attainment = &x.Target, ratio(x.Accounts, uint64(x.Target))
		}
		rows = append(rows, row)
	}
	return map[string]any{"rows": rows}, nil
}

type discountRow struct {
	Day           string   `json:"day"`
	TeamID        string   `json:"team_id"`
	RepID         string   `json:"rep_id"`
	Quotes        uint64   `json:"quotes"`
	AvgPct        *float64 `json:"discount_avg_pct"`
	MaxPct        *float64 `json:"discount_max_pct"`
	AuthorityPct  *float64 `json:"authority_pct"`
	OverAuthority *uint64  `json:"over_authority"`
}

func (s *Server) discounts(r *http.Request) (any, error) {
	f, err := s.parseFilter(r)
	if err != nil {
		return nil, err
	}
	p := f.params()
	var auth []string
	for _, rep := range s.deps.Org.Reps {
		if a, ok := s.deps.Authority(rep.ID); ok && idPattern.MatchString(rep.ID) {
			auth = append(auth, "'"+rep.ID+"':"+strconv.FormatFloat(a, 'f', -1, 64))
		}
	}
	p["auth"] = "{" + strings.Join(auth, ",") + "}"
	var scan []struct {
		Day    string   `ch:"day_str"`
		TeamID string   `ch:"team_id"`
		RepID  string   `ch:"rep_id"`
		Quotes uint64   `ch:"quotes"`
		Avg    *float64 `ch:"discount_avg_pct"`
		Max    *float64 `ch:"discount_max_pct"`
		Over   uint64   `ch:"over_authority"`
	}
	if err := s.deps.Store.Select(r.Context(), &scan, s.q.discounts, p); err != nil {
		return nil, err
	}
	rows := make([]discountRow, 0, len(scan))
	for _, x := range scan {
		row := discountRow{Day: x.Day, TeamID: x.TeamID, RepID: x.RepID, Quotes: x.Quotes, AvgPct: nullPtr(x.Avg), MaxPct: nullPtr(x.Max)}
		if a, ok := s.deps.Authority(x.RepID); ok {
			row.AuthorityPct, row.OverAuthority = &a, &x.Over
		}
		rows = append(rows, row)
	}
	return map[string]any{"rows": rows}, nil
}

type approvalRow struct {
	Day         string   `json:"day"`
	TeamID      string   `json:"team_id"`
	Requests    uint64   `json:"requests"`
	Decided     uint64   `json:"decided"`
	Approved    uint64   `json:"approved"`
	Rejected    uint64   `json:"rejected"`
	Expired     uint64   `json:"expired"`
	Within24h   uint64   `json:"decided_within_24h"`
	Share24h    *float64 `json:"share_24h"`
	LatencyP50  *float64 `json:"latency_p50_s"`
	Provisional bool     `json:"provisional"`
}

func (s *Server) approvals(r *http.Request) (any, error) {
	f, err := s.parseFilter(r)
	if err != nil {
		return nil, err
	}
	var scan []struct {
		Day         string  `ch:"day_str"`
		TeamID      string  `ch:"team_id"`
		Requests    uint64  `ch:"requests"`
		Approved    uint64  `ch:"approved"`
		Rejected    uint64  `ch:"rejected"`
		Expired     uint64  `ch:"expired"`
		Within24h   uint64  `ch:"decided_within_24h"`
		P50         float64 `ch:"latency_p50_s"`
		Provisional uint8   `ch:"provisional"`
	}
	if err := s.deps.Store.Select(r.Context(), &scan, s.q.approvals, f.params()); err != nil {
		return nil, err
	}
	rows := make([]approvalRow, 0, len(scan))
	for _, x := range scan {
		decided := x.Approved + x.Rejected
		row := approvalRow{Day: x.Day, TeamID: x.TeamID, Requests: x.Requests, Decided: decided, Approved: x.Approved,
			Rejected: x.Rejected, Expired: x.Expired, Within24h: x.Within24h, Share24h: ratio(x.Within24h, decided),
			Provisional: x.Provisional == 1}
		if decided > 0 {
			row.LatencyP50 = nullable(x.P50)
		}
		rows = append(rows, row)
	}
	return map[string]any{"rows": rows}, nil
}

type dealRow struct {
	Day        string   `ch:"day_str" json:"day"`
	TeamID     string   `ch:"team" json:"team_id"`
	RepID      string   `ch:"rep" json:"rep_id"`
	Won        uint64   `ch:"won" json:"won"`
	Lost       uint64   `ch:"lost" json:"lost"`
	WonAmount  float64  `ch:"won_amount" json:"won_amount"`
	LostAmount float64  `ch:"lost_amount" json:"lost_amount"`
	Currency   string   `ch:"currency_str" json:"currency"`
	CycleDays  *float64 `ch:"cycle_days_avg" json:"cycle_days_avg"`
}

func (s *Server) deals(r *http.Request) (any, error) {
	f, err := s.parseFilter(r)
	if err != nil {
		return nil, err
	}
	rows := []dealRow{}
	if err := s.deps.Store.Select(r.Context(), &rows, s.q.deals, f.params()); err != nil {
		return nil, err
	}
	for k := range rows {
		rows[k].CycleDays = nullPtr(rows[k].CycleDays)
	}
	return map[string]any{"rows": rows}, nil
}

// Alert is an alert as the API shows it: the alerts list and the stream.
type Alert struct {
	ID           string `json:"id"`
	Rule         string `json:"rule"`
	Severity     string `json:"severity"`
	State        string `json:"state"`
	At           string `json:"at"`
	TeamID       string `json:"team_id"`
	RepID        string `json:"rep_id"`
	LeadID       string `json:"lead_id"`
	Summary      string `json:"summary"`
	Acknowledged bool   `json:"acknowledged"`
}

// alertScan is an alert row (alertColumns), plus the stream's columns.
type alertScan struct {
	ID         string    `ch:"id"`
	Rule       string    `ch:"rule_str"`
	Severity   string    `ch:"severity_str"`
	State      string    `ch:"state_str"`
	At         time.Time `ch:"at"`
	TeamID     string    `ch:"team_id"`
	RepID      string    `ch:"rep_id"`
	LeadID     string    `ch:"lead_id"`
	Summary    string    `ch:"summary"`
	Ack        uint8     `ch:"acknowledged"`
	Version    uint64    `ch:"version"`
	IngestedAt time.Time `ch:"ingested_at"`
}

func (a *alertScan) fill() Alert {
	return Alert{ID: a.ID, Rule: a.Rule, Severity: a.Severity, State: a.State, At: a.At.UTC().Format(time.RFC3339Nano),
		TeamID: a.TeamID, RepID: a.RepID, LeadID: a.LeadID, Summary: a.Summary, Acknowledged: a.Ack == 1}
}

func (s *Server) alerts(r *http.Request) (any, error) {
	q := r.URL.Query()
	limit, err := intParam(q, "limit", 100, 1, min(maxAlerts, s.cfg.MaxRows))
	if err != nil {
		return nil, err
	}
	team, err := optionalID(q, "team")
	if err != nil {
		return nil, err
	}
	var scan []alertScan
	if err := s.deps.Store.Select(r.Context(), &scan, s.q.alerts, map[string]string{"team": team, "limit": itoa(limit)}); err != nil {
		return nil, err
	}
	alerts := make([]Alert, 0, len(scan))
	for k := range scan {
		alerts = append(alerts, scan[k].fill())
	}
	return map[string]any{"alerts": alerts}, nil
}

type journeyEvent struct {
	At      string `json:"at"`
	Type    string `json:"type"`
	Channel string `json:"channel"`
	Source  string `json:"source"`
	RepID   string `json:"rep_id"`
	TeamID  string `json:"team_id"`
	EventID string `json:"event_id"`
}

func (s *Server) journey(r *http.Request) (any, error) {
	lead, err := pathID(r, "lead_id")
	if err != nil {
		return nil, err
	}
	var scan []struct {
		At      time.Time `ch:"at_time"`
		Type    string    `ch:"type_str"`
		Channel string    `ch:"channel_str"`
		Source  string    `ch:"source_str"`
		RepID   string    `ch:"rep_id"`
		TeamID  string    `ch:"team_id"`
		EventID string    `ch:"event_id"`
	}
	if err := s.deps.Store.Select(r.Context(), &scan, s.q.journey, map[string]string{"lead": lead}); err != nil {
		return nil, err
	}
	if len(scan) == 0 {
		return nil, notFound{"no events for lead " + lead}
	}
	events := make([]journeyEvent, 0, len(scan))
	for _, x := range scan {
		events = append(events, journeyEvent{At: x.At.UTC().Format(time.RFC3339Nano), Type: x.Type, Channel: x.Channel,
			Source: x.Source, RepID: x.RepID, TeamID: x.TeamID, EventID: x.EventID})
	}
	return map[string]any{"lead_id": lead, "events": events}, nil
}
