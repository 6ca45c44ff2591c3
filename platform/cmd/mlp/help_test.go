package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/casebook-ml/casebook/platform/cli"
	"github.com/casebook-ml/casebook/platform/internal/walkthrough"
)

// TestHelp: every command and subcommand answers -h, --help and help with its usage on
// stdout and exit code 0; an unknown command still errors with usage on stderr and 2.
func TestHelp(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // in stdout
	}{
		{[]string{"--help"}, "mlp registry"},
		{[]string{"-h"}, "mlp serve"},
		{[]string{"help"}, "mlp monitor"},
		{[]string{"demo", "--help"}, "mlp demo [--json FILE]"},
		{[]string{"scenario", "--help"}, "scenario run NAME"},
		{[]string{"scenario", "run", "-h"}, "-json"},
		{[]string{"registry", "--help"}, "promote MODEL VERSION ALIAS"},
		{[]string{"registry", "help"}, "-actor"},
		{[]string{"registry", "show", "-h"}, "-actor"},
		{[]string{"train", "--help"}, "-checkpoints"},
		{[]string{"features", "-h"}, "-view"},
		{[]string{"monitor", "--help"}, "-reference"},
		{[]string{"serve", "--help"}, "-max-batch"},
		{[]string{"serve", "-h"}, "Open Inference Protocol"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			err := run(context.Background(), tc.args, walkthrough.Config{}, &out)
			if code := cli.Exit("mlp", err, &out, &errb); code != 0 || errb.Len() > 0 {
				t.Fatalf("mlp %v: exit %d, stderr %q; want 0 and nothing", tc.args, code, errb.String())
			}
			if !strings.Contains(out.String(), tc.want) {
				t.Errorf("mlp %v printed %q, want %q in it", tc.args, out.String(), tc.want)
			}
		})
	}
	for _, args := range [][]string{{"bogus"}, {}, {"registry", "--bogus"}, {"serve", "--nope"}, {"scenario", "walk"}} {
		var out, errb bytes.Buffer
		err := run(context.Background(), args, walkthrough.Config{}, &out)
		if code := cli.Exit("mlp", err, &out, &errb); code != 2 || out.Len() > 0 || !strings.Contains(errb.String(), "usage") {
			t.Errorf("mlp %v: exit %d, stdout %q, stderr %q; want 2 and the usage on stderr", args, code, out.String(), errb.String())
		}
	}
}
