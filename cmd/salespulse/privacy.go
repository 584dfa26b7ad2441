package main

import (
	"context"
	"fmt"
	"io"

	"github.com/salespulse/salespulse/internal/app"
	"github.com/salespulse/salespulse/pipeline/privacy"
	"github.com/salespulse/salespulse/sinks/clickhouse"
)

const eraseSynopsis = `
Deletes every row of a data subject (a contact's e-mail address, phone number
or name) from ClickHouse. ClickHouse holds only pseudonyms, so the subject is
pseudonymised with the current and every previous key of the config, and rows
with those contact keys are deleted. See docs/privacy.md.`

func cmdPrivacy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "erase" {
		fmt.Fprint(stderr, "Usage: salespulse privacy erase --config FILE --subject S\n")
		return errUsage
	}
	fs := newFlagSet("privacy erase --config FILE --subject S", eraseSynopsis, stderr)
	file := fs.String("config", "", "config file (its clickhouse and privacy sections are used)")
	subject := fs.String("subject", "", "the subject's e-mail address, phone number or name")
	dev := fs.Bool("dev", false, "use the dev key and the embedded ClickHouse of salespulse dev (127.0.0.1:8123)")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if *subject == "" || (*file == "" && !*dev) {
		fs.Usage()
		return errUsage
	}
	cfg := &app.Config{}
	if *file != "" {
		var err error
		if cfg, err = app.LoadConfig(*file); err != nil {
			return err
		}
	}
	if *dev {
		cfg.Privacy = privacy.Config{Key: privacy.DevKey()}
		if len(cfg.ClickHouse.Addresses) == 0 {
			cfg.ClickHouse.Addresses = []string{"127.0.0.1:8123"}
			cfg.ClickHouse.Protocol = "http"
		}
	}
	p, err := privacy.New(cfg.Privacy)
	if err != nil {
		return fmt.Errorf("privacy: %w", err)
	}
	keys := p.SubjectKeys(*subject)
	no := false
	cfg.ClickHouse.Migrate = &no
	sink, err := clickhouse.NewSink(ctx, cfg.ClickHouse, nil, nil)
	if err != nil {
		return err
	}
	defer sink.Close()
	n, err := sink.EraseSubject(ctx, keys)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "erased %d rows for the subject (%d pseudonyms checked)\n", n, len(keys))
	return nil
}
