// Package clitest checks a binary's command line the way every Casebook binary promises to
// answer it: -h, --help and help print the usage on stdout with exit code 0; an unknown
// command or flag prints the usage on stderr with exit code 2.
package clitest

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/casebook-ml/casebook/platform/cli"
)

// Main is a binary's entry point as its main function calls it, before cli.Exit.
type Main func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// Help is one command line that must print its usage: Want is a piece of the text.
type Help struct {
	Args []string
	Want string
}

// CheckHelp runs prog's main on every help case (exit 0, nothing on stderr, Want on
// stdout) and on every bad command line (exit 2, nothing on stdout, the usage on stderr).
func CheckHelp(t *testing.T, prog string, main Main, help []Help, bad [][]string) {
	t.Helper()
	for _, tc := range help {
		t.Run(strings.Join(tc.Args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			err := main(context.Background(), tc.Args, &out, &errb)
			if code := cli.Exit(prog, err, &out, &errb); code != 0 || errb.Len() > 0 {
				t.Fatalf("%s %v: exit %d, stderr %q; want 0 and nothing", prog, tc.Args, code, errb.String())
			}
			if !strings.Contains(out.String(), tc.Want) {
				t.Errorf("%s %v printed %q, want %q in it", prog, tc.Args, out.String(), tc.Want)
			}
		})
	}
	for _, args := range bad {
		var out, errb bytes.Buffer
		err := main(context.Background(), args, &out, &errb)
		if code := cli.Exit(prog, err, &out, &errb); code != 2 || out.Len() > 0 || !strings.Contains(errb.String(), "usage") {
			t.Errorf("%s %v: exit %d, stdout %q, stderr %q; want 2 and the usage on stderr", prog, args, code, out.String(), errb.String())
		}
	}
}
