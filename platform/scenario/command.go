package scenario

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/casebook-ml/casebook/platform/cli"
)

// ErrUsage marks a command line that could not be understood; binaries map it to exit code
// 2. It is cli.ErrUsage, so either matches under errors.Is.
var ErrUsage = cli.ErrUsage

// commandUsage is the `scenario` subcommand's usage.
const commandUsage = `scenario list                      every scenario with its summary
scenario names                     only the names, one a line
scenario run NAME... [--json FILE] run the named scenarios ("all": every one); --json also writes the results (- for stdout)`

// Command runs the `scenario` subcommand of a binary. args are the words after "scenario":
//
//	list                          print every scenario with its summary
//	names                         print only the names, one a line (for scripts)
//	run NAME... [--json FILE]     run the named scenarios ("all" runs every one) in order
//
// Narration goes to stdout. With --json, the results are also written to FILE ("-" is stdout).
func (s Set) Command(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return cli.Usage(commandUsage, "scenario needs a subcommand")
	}
	if cli.IsHelp(args[0]) {
		return cli.Help(commandUsage)
	}
	switch args[0] {
	case "list":
		if len(s) == 0 {
			fmt.Fprintln(stdout, "(no scenarios yet)")
		}
		for _, name := range s.Names() {
			sc, _ := s.Find(name)
			fmt.Fprintf(stdout, "%-36s %s\n", sc.Name, sc.Summary)
		}
		return nil
	case "names":
		for _, name := range s.Names() {
			fmt.Fprintln(stdout, name)
		}
		return nil
	case "run":
		return s.runCommand(ctx, args[1:], stdout)
	default:
		return cli.Usage(commandUsage, "unknown scenario subcommand %q", args[0])
	}
}

func (s Set) runCommand(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("scenario run", flag.ContinueOnError)
	jsonPath := fs.String("json", "", "also write the results as JSON to this file (- for stdout)")
	// Names and flags may come in any order: collect names between flag parses.
	var names []string
	for len(args) > 0 {
		if err := cli.Parse(fs, "scenario run NAME... [--json FILE]", args); err != nil {
			return err
		}
		args = fs.Args()
		if len(args) > 0 {
			names = append(names, args[0])
			args = args[1:]
		}
	}
	if len(names) == 0 {
		return fmt.Errorf("%w: scenario run needs a name; try `scenario list`", ErrUsage)
	}
	if len(names) == 1 && names[0] == "all" {
		names = s.Names()
	}
	for _, n := range names {
		if _, ok := s.Find(n); !ok {
			return fmt.Errorf("%w: %w %q; try `scenario list`", ErrUsage, ErrUnknown, n)
		}
	}
	var results []Result
	var failed []error
	for _, n := range names {
		res, err := s.Run(ctx, n, stdout)
		results = append(results, res)
		if err != nil {
			failed = append(failed, err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	if *jsonPath != "" {
		if err := writeResults(*jsonPath, results, stdout); err != nil {
			return err
		}
	}
	return errors.Join(failed...)
}

func writeResults(path string, results []Result, stdout io.Writer) error {
	if path == "-" {
		return WriteJSON(stdout, results)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write scenario results: %w", err)
	}
	if err := WriteJSON(f, results); err != nil {
		f.Close()
		return fmt.Errorf("write scenario results %s: %w", path, err)
	}
	return f.Close()
}
