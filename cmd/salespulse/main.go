// Command salespulse is the SalesPulse binary: `dev` runs everything on
// embedded services, `run` runs the pipeline against real Kafka and
// ClickHouse, `ingest` runs only the webhook ingress, `gen` produces
// synthetic sales activity, `config` checks and prints configuration,
// `privacy erase` removes a data subject's rows, `alerts budget` measures
// the pages the alert hooks would send, `score` trains and evaluates the
// deal score model.
//
// This package only parses flags and wires packages together (internal/app,
// internal/devstack); behaviour lives in the packages.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/salespulse/salespulse/internal/app"
)

const usage = `salespulse — real-time sales interaction analytics on Kafka and ClickHouse

Usage:
  salespulse dev [flags]                 embedded Kafka + ClickHouse + generator + pipeline in one process
  salespulse run --config FILE           the pipeline against external Kafka and ClickHouse
  salespulse ingest --config FILE        only the webhook ingress: vendors post, bodies go to Kafka
  salespulse gen [flags]                 produce synthetic sales activity into Kafka
  salespulse config validate FILE        check a config file; prints every problem with its path
  salespulse config example              print a complete, commented example config
  salespulse privacy erase --subject S   delete a data subject's rows from ClickHouse (GDPR)
  salespulse alerts budget --config FILE pages per manager and rep per working day the hooks would send
  salespulse score train|evaluate        train the deal score model; AUC, Brier and calibration on a hold-out
  salespulse version                     print the version

Run 'salespulse COMMAND --help' for a command's flags.
`

func main() {
	// GOGC 200 (unless GOGC is set) and a memory limit under the
	// container's: the collector was the pipeline's largest single CPU cost
	// per event at Go's default; app.DefaultGCPercent says why and how to
	// override it.
	app.SetGCDefaults(os.Getenv)
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// exit codes
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	// SIGTERM is how Kubernetes and systemd stop us; SIGINT is Ctrl-C. Both
	// start the same orderly stop (drain, commit offsets, close).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var err error
	switch args[0] {
	case "dev":
		err = cmdDev(ctx, args[1:], stdout, stderr)
	case "run":
		err = cmdRun(ctx, args[1:], stdout, stderr)
	case "ingest":
		err = cmdIngest(ctx, args[1:], stdout, stderr)
	case "gen":
		err = cmdGen(ctx, args[1:], stdout, stderr)
	case "config":
		err = cmdConfig(args[1:], stdout, stderr)
	case "privacy":
		err = cmdPrivacy(ctx, args[1:], stdout, stderr)
	case "alerts":
		err = cmdAlerts(ctx, args[1:], stdout, stderr)
	case "score":
		err = cmdScore(ctx, args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "salespulse", version())
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "salespulse: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errUsage):
		return exitUsage
	default:
		fmt.Fprintf(stderr, "salespulse %s: %v\n", args[0], err)
		return exitError
	}
}

// errUsage marks a command-line mistake already reported by the flag set.
var errUsage = errors.New("usage")

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		v := bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " " + s.Value[:12]
			}
		}
		return v
	}
	return "unknown"
}

// newFlagSet returns a flag set that reports errors to stderr and prints
// the command's synopsis with its flags on --help.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("salespulse "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: salespulse %s\n\n%s\n\nFlags:\n", name, strings.TrimSpace(synopsis))
		fs.PrintDefaults()
	}
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	return nil
}

// newLogger builds the process logger: JSON for machines (run), text for
// people (dev). It never logs personal data because nothing passes it any:
// interactions are pseudonymised before any stage that logs.
func newLogger(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
