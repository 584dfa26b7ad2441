package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/internal/ack"
	"github.com/salespulse/salespulse/internal/kafkaio"
	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sinks/clickhouse"
	"github.com/salespulse/salespulse/sources/kafka"
)

// alertLeads looks an alert's lead up in ClickHouse's alerts table for
// the acknowledgement endpoint.
type alertLeads struct{ sink *clickhouse.Sink }

func (l alertLeads) AlertLead(ctx context.Context, id string) (string, error) {
	lead, err := l.sink.AlertLead(ctx, id)
	if errors.Is(err, clickhouse.ErrNoAlert) {
		return "", fmt.Errorf("%w: %w", ack.ErrUnknownAlert, err)
	}
	return lead, err
}

// newAckServer binds alerts.ack.listen (so a taken port fails New, and a
// ":0" port is known before Run) and builds the acknowledgement endpoint.
// It produces with the source's client: idempotent, acks=all, and
// closed only after the server has stopped (Run).
func newAckServer(cfg Config, src *kafka.Source, sink *clickhouse.Sink, idx *schemas.Index, reg prometheus.Registerer, log *slog.Logger, cs *closers) (*http.Server, net.Listener, error) {
	a := cfg.Alerts.Ack
	ln, err := net.Listen("tcp", a.Listen)
	if err != nil {
		return nil, nil, fmt.Errorf("alerts.ack.listen: %w", err)
	}
	if err := cs.push("ack listener", func(context.Context) error { return ln.Close() }); err != nil {
		return nil, nil, err
	}
	h := ack.New(a, a.Topic, ack.Options{
		Producer: kafkaio.NewRecordProducer(src.Client()),
		Leads:    alertLeads{sink},
		IsRep:    func(id string) bool { return idx.Rep(id) != nil },
		Registry: reg,
		Logger:   log,
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
	log.Info("acknowledgement endpoint", "addr", ln.Addr().String(), "topic", a.Topic, "token", a.Token != "", "slack", a.SlackSigningSecret != "")
	return srv, ln, nil
}

// AckAddr is where the acknowledgement endpoint listens ("" when off).
func (a *App) AckAddr() string {
	if a.ackLn == nil {
		return ""
	}
	return a.ackLn.Addr().String()
}
