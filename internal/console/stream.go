package console

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// streamOverlap is how far back each poll reads again: rows become
// visible in ClickHouse in insert order but carry the sink's clock at
// write time (ingested_at), so a row of a slower insert may show up
// with a time already passed. Rows seen are remembered for this long.
const streamOverlap = 10 * time.Second

// maxStreams bounds the open alert streams: each polls ClickHouse every
// PollInterval, so viewers beyond it would load the database, not the
// console. More get 503.
const maxStreams = 64

// stream sends every alert state change stored after the connection
// started, as server-sent events ("event: alert", data: an Alert), polling
// ClickHouse every PollInterval, with a comment line every Heartbeat.
// A failed poll is logged and retried at the next tick: the viewer keeps
// the connection, and misses nothing younger than the overlap.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	select {
	case s.streams <- struct{}{}:
		defer func() { <-s.streams }()
	default:
		writeError(w, http.StatusServiceUnavailable, "too many alert streams are open; retry later")
		return
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	// The stream outlives the server's write timeout.
	rc.SetWriteDeadline(time.Time{})
	if _, err := w.Write([]byte(": salespulse alert stream\nretry: 2000\n\n")); err != nil {
		return
	}
	rc.Flush()

	ctx := r.Context()
	start := s.deps.Now()
	cursor := start                // newest ingested_at sent
	seen := map[string]time.Time{} // id/version → ingested_at, younger than the overlap
	poll := time.NewTicker(s.deps.PollInterval)
	defer poll.Stop()
	beat := time.NewTicker(s.deps.Heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-beat.C:
			if _, err := w.Write([]byte(": heartbeat\n\n")); err != nil {
				return
			}
			rc.Flush()
		case <-poll.C:
			since := cursor.Add(-streamOverlap)
			if since.Before(start) {
				since = start
			}
			var rows []alertScan
			err := s.deps.Store.Select(ctx, &rows, s.q.stream, map[string]string{"since": strconv.FormatInt(since.UnixMilli(), 10)})
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("alert stream: poll failed", "err", err)
				}
				continue
			}
			for k := range rows {
				a := &rows[k]
				key := a.ID + "/" + strconv.FormatUint(a.Version, 10)
				if _, ok := seen[key]; ok {
					continue
				}
				seen[key] = a.IngestedAt
				if a.IngestedAt.After(cursor) {
					cursor = a.IngestedAt
				}
				b, _ := json.Marshal(a.fill())
				if _, err := w.Write([]byte("event: alert\nid: " + key + "\ndata: " + string(b) + "\n\n")); err != nil {
					return
				}
			}
			if len(rows) > 0 {
				rc.Flush()
			}
			for k, at := range seen {
				if at.Before(cursor.Add(-2 * streamOverlap)) {
					delete(seen, k)
				}
			}
		}
	}
}
