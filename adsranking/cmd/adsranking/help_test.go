package main

import (
	"testing"

	"github.com/casebook-ml/casebook/platform/cli/clitest"
)

// TestHelp: every command answers -h, --help and help with its usage on stdout and exit
// code 0; unknown commands and flags still exit 2 with the usage on stderr.
func TestHelp(t *testing.T) {
	clitest.CheckHelp(t, "adsranking", mainErr, []clitest.Help{
		{Args: []string{"--help"}, Want: "adsranking serve"},
		{Args: []string{"-h"}, Want: "adsranking scenario"},
		{Args: []string{"help"}, Want: "adsranking serve"},
		{Args: []string{"serve", "--help"}, Want: "-budget-scale"},
		{Args: []string{"serve", "-h"}, Want: "POST /openrtb2/auction"},
		{Args: []string{"scenario", "--help"}, Want: "scenario run NAME"},
		{Args: []string{"scenario", "run", "--help"}, Want: "-json"},
	}, [][]string{{"bogus"}, {}, {"serve", "--bogus"}, {"serve", "extra"}})
}
