package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/casebook-ml/casebook/platform/cli"
)

// TestHelp: every command answers -h, --help and help with its usage on stdout and exit
// code 0; unknown commands and flags still exit 2 with the usage on stderr.
func TestHelp(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--help"}, "fraud stream"},
		{[]string{"-h"}, "fraud eval"},
		{[]string{"help"}, "fraud scenario"},
		{[]string{"simulate", "--help"}, "-customers"},
		{[]string{"features", "-h"}, "-offline-dir"},
		{[]string{"eval", "--help"}, "-scores-out"},
		{[]string{"train", "-h"}, "-csv"},
		{[]string{"stream", "--help"}, "-metrics"},
		{[]string{"scenario", "--help"}, "scenario run NAME"},
		{[]string{"scenario", "run", "-h"}, "-json"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			err := mainErr(context.Background(), tc.args, &out, &errb)
			if code := cli.Exit("fraud", err, &out, &errb); code != 0 || errb.Len() > 0 {
				t.Fatalf("fraud %v: exit %d, stderr %q; want 0 and nothing", tc.args, code, errb.String())
			}
			if !strings.Contains(out.String(), tc.want) {
				t.Errorf("fraud %v printed %q, want %q in it", tc.args, out.String(), tc.want)
			}
		})
	}
	for _, args := range [][]string{{"bogus"}, {}, {"stream", "--bogus"}, {"eval", "--nope"}} {
		var out, errb bytes.Buffer
		err := mainErr(context.Background(), args, &out, &errb)
		if code := cli.Exit("fraud", err, &out, &errb); code != 2 || out.Len() > 0 || !strings.Contains(errb.String(), "usage") {
			t.Errorf("fraud %v: exit %d, stdout %q, stderr %q; want 2 and the usage on stderr", args, code, out.String(), errb.String())
		}
	}
}
