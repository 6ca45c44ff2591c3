// Package cli is what every Casebook binary shares around its commands: the logger read
// from CASEBOOK_LOG_LEVEL, -h/--help and usage errors mapped to exit codes, and the
// composition of a process's long-running parts so that one failing stops the process.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// ErrUsage marks a command line that could not be understood; Exit maps it to code 2.
var ErrUsage = errors.New("usage")

// HelpError is what a command returns when its command line asked for help: Exit prints
// Usage on stdout and the process exits 0. It matches flag.ErrHelp under errors.Is.
type HelpError struct{ Usage string }

func (e *HelpError) Error() string { return "help requested" }

// Is makes errors.Is(err, flag.ErrHelp) hold for a help request.
func (e *HelpError) Is(target error) bool { return target == flag.ErrHelp }

// Help returns the error that asks Exit to print usage on stdout.
func Help(usage string) error { return &HelpError{Usage: usage} }

// IsHelp reports whether a command's first word asks for its usage.
func IsHelp(arg string) bool {
	switch arg {
	case "help", "-h", "-help", "--help":
		return true
	}
	return false
}

// Usage returns an ErrUsage error saying what was wrong, followed by the usage text.
func Usage(usage, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if usage == "" {
		return fmt.Errorf("%w: %s", ErrUsage, msg)
	}
	return fmt.Errorf("%w: %s\n%s", ErrUsage, msg, usage)
}

// Parse parses args into fs without fs printing anything itself. -h and --help return a
// HelpError carrying synopsis and fs's flag defaults; a bad flag returns an ErrUsage error
// with the same text, so main prints one or the other on the right stream.
func Parse(fs *flag.FlagSet, synopsis string, args []string) error {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	if err == nil {
		return nil
	}
	text := FlagUsage(fs, synopsis)
	if errors.Is(err, flag.ErrHelp) {
		return Help(text)
	}
	return fmt.Errorf("%w: %w\n%s", ErrUsage, err, text)
}

// FlagUsage is synopsis followed by fs's flags and their defaults, as flag prints them.
func FlagUsage(fs *flag.FlagSet, synopsis string) string {
	var b strings.Builder
	b.WriteString(strings.TrimRight(synopsis, "\n"))
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		b.WriteString("\nflags:\n")
		out := fs.Output()
		fs.SetOutput(&b)
		fs.PrintDefaults()
		fs.SetOutput(out)
	}
	return strings.TrimRight(b.String(), "\n")
}

// Exit prints what err calls for and returns the process's exit code: 0 for success and
// for help (usage on stdout), 2 for a usage error or any of usageErrs (message on stderr),
// 1 for any other error.
func Exit(prog string, err error, stdout, stderr io.Writer, usageErrs ...error) int {
	if err == nil {
		return 0
	}
	var help *HelpError
	if errors.As(err, &help) {
		fmt.Fprintln(stdout, help.Usage)
		return 0
	}
	fmt.Fprintf(stderr, "%s: %v\n", prog, err)
	for _, u := range append([]error{ErrUsage}, usageErrs...) {
		if errors.Is(err, u) {
			return 2
		}
	}
	return 1
}
