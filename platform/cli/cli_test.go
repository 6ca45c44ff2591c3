package cli

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"
)

func TestParseAndExit(t *testing.T) {
	for _, tc := range []struct {
		args             []string
		code             int
		stdout, stderr   string // substrings wanted
		noStdout, noErrs bool
	}{
		{args: []string{"-h"}, code: 0, stdout: "-n int", noErrs: true},
		{args: []string{"--help"}, code: 0, stdout: "demo [flags]", noErrs: true},
		{args: []string{"-bogus"}, code: 2, stderr: "flag provided but not defined: -bogus", noStdout: true},
		{args: []string{"-n", "3"}, code: 0, noStdout: true, noErrs: true},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			fs := flag.NewFlagSet("demo", flag.ContinueOnError)
			fs.Int("n", 1, "how many")
			err := Parse(fs, "demo [flags]", tc.args)
			var out, errb bytes.Buffer
			if code := Exit("demo", err, &out, &errb); code != tc.code {
				t.Fatalf("Exit(%v) = %d, want %d", err, code, tc.code)
			}
			if !strings.Contains(out.String(), tc.stdout) || (tc.noStdout && out.Len() > 0) {
				t.Errorf("stdout = %q, want %q", out.String(), tc.stdout)
			}
			if !strings.Contains(errb.String(), tc.stderr) || (tc.noErrs && errb.Len() > 0) {
				t.Errorf("stderr = %q, want %q", errb.String(), tc.stderr)
			}
		})
	}
}

func TestExitCodes(t *testing.T) {
	other := errors.New("other usage")
	for _, tc := range []struct {
		err  error
		code int
	}{
		{nil, 0},
		{Help("u"), 0},
		{fmt.Errorf("wrapped: %w", Help("u")), 0},
		{Usage("u", "bad"), 2},
		{fmt.Errorf("x: %w", other), 2},
		{errors.New("failed"), 1},
	} {
		var out, errb bytes.Buffer
		if code := Exit("p", tc.err, &out, &errb, other); code != tc.code {
			t.Errorf("Exit(%v) = %d, want %d", tc.err, code, tc.code)
		}
	}
	if !errors.Is(Help("u"), flag.ErrHelp) {
		t.Error("a help request does not match flag.ErrHelp")
	}
}

func TestNewLogger(t *testing.T) {
	var b bytes.Buffer
	l, err := NewLogger("warn", &b)
	if err != nil {
		t.Fatal(err)
	}
	l.Info("hidden")
	l.Warn("dead-lettered", "seq", 7)
	if got := b.String(); strings.Contains(got, "hidden") || !strings.Contains(got, "msg=dead-lettered seq=7") {
		t.Errorf("log = %q, want only the warning", got)
	}
	b.Reset()
	l, _ = NewLogger("", &b)
	l.Info("shown")
	if !strings.Contains(b.String(), "shown") {
		t.Errorf("default level drops info: %q", b.String())
	}
	if _, err := NewLogger("loud", &b); !errors.Is(err, ErrUsage) {
		t.Errorf("NewLogger(loud) = %v, want a usage error", err)
	}
}
