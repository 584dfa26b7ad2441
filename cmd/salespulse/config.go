package main

import (
	_ "embed"
	"fmt"
	"io"

	"github.com/salespulse/salespulse/internal/app"
)

//go:embed example.yml
var exampleConfig string

func cmdConfig(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, "Usage:\n  salespulse config validate FILE\n  salespulse config example\n")
		return errUsage
	}
	switch args[0] {
	case "example":
		fmt.Fprint(stdout, exampleConfig)
		return nil
	case "validate":
		if len(args) != 2 {
			fmt.Fprint(stderr, "Usage: salespulse config validate FILE\n")
			return errUsage
		}
		cfg, err := app.LoadConfig(args[1])
		if err != nil {
			return err
		}
		if err := cfg.Validate(); err != nil {
			return fmt.Errorf("%s is invalid:\n%w", args[1], err)
		}
		fmt.Fprintf(stdout, "%s is valid\n", args[1])
		return nil
	}
	fmt.Fprintf(stderr, "unknown config command %q\n", args[0])
	return errUsage
}
