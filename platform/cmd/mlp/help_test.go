package main

import (
	"context"
	"io"
	"testing"

	"github.com/casebook-ml/casebook/platform/cli/clitest"
	"github.com/casebook-ml/casebook/platform/internal/walkthrough"
)

// TestHelp: every command and subcommand answers -h, --help and help with its usage on
// stdout and exit code 0; an unknown command still errors with usage on stderr and 2.
func TestHelp(t *testing.T) {
	clitest.CheckHelp(t, "mlp", func(ctx context.Context, args []string, stdout, _ io.Writer) error {
		return run(ctx, args, walkthrough.Config{}, stdout)
	}, []clitest.Help{
		{Args: []string{"--help"}, Want: "mlp registry"},
		{Args: []string{"-h"}, Want: "mlp serve"},
		{Args: []string{"help"}, Want: "mlp monitor"},
		{Args: []string{"demo", "--help"}, Want: "mlp demo [--json FILE]"},
		{Args: []string{"scenario", "--help"}, Want: "scenario run NAME"},
		{Args: []string{"scenario", "run", "-h"}, Want: "-json"},
		{Args: []string{"registry", "--help"}, Want: "promote MODEL VERSION ALIAS"},
		{Args: []string{"registry", "help"}, Want: "-actor"},
		{Args: []string{"registry", "show", "-h"}, Want: "-actor"},
		{Args: []string{"train", "--help"}, Want: "-checkpoints"},
		{Args: []string{"features", "-h"}, Want: "-view"},
		{Args: []string{"monitor", "--help"}, Want: "-reference"},
		{Args: []string{"serve", "--help"}, Want: "-max-batch"},
		{Args: []string{"serve", "-h"}, Want: "Open Inference Protocol"},
		{Args: []string{"console", "--help"}, Want: "-serving"},
		{Args: []string{"console", "-h"}, Want: "audit chain"},
	}, [][]string{{"bogus"}, {}, {"registry", "--bogus"}, {"serve", "--nope"}, {"scenario", "walk"}, {"console", "--nope"}, {"console", "--serving", "localhost:1"}})
}
