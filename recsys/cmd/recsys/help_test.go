package main

import (
	"testing"

	"github.com/casebook-ml/casebook/platform/cli/clitest"
)

// TestHelp: every command answers -h, --help and help with its usage on stdout and exit
// code 0; unknown commands and flags still exit 2 with the usage on stderr.
func TestHelp(t *testing.T) {
	clitest.CheckHelp(t, "recsys", mainErr, []clitest.Help{
		{Args: []string{"--help"}, Want: "recsys serve"},
		{Args: []string{"-h"}, Want: "recsys eval"},
		{Args: []string{"help"}, Want: "recsys simulate"},
		{Args: []string{"eval", "--help"}, Want: "-recs-out"},
		{Args: []string{"serve", "-h"}, Want: "-candidates"},
		{Args: []string{"simulate", "--help"}, Want: "-interactions"},
		{Args: []string{"scenario", "-h"}, Want: "scenario run NAME"},
	}, [][]string{{"bogus"}, {}, {"serve", "--bogus"}, {"simulate"}})
}
