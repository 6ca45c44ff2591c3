package main

import (
	"testing"

	"github.com/casebook-ml/casebook/platform/cli/clitest"
)

// TestHelp: every command answers -h, --help and help with its usage on stdout and exit
// code 0; unknown commands and flags still exit 2 with the usage on stderr.
func TestHelp(t *testing.T) {
	clitest.CheckHelp(t, "fraud", mainErr, []clitest.Help{
		{Args: []string{"--help"}, Want: "fraud stream"},
		{Args: []string{"-h"}, Want: "fraud eval"},
		{Args: []string{"help"}, Want: "fraud scenario"},
		{Args: []string{"simulate", "--help"}, Want: "-customers"},
		{Args: []string{"features", "-h"}, Want: "-offline-dir"},
		{Args: []string{"eval", "--help"}, Want: "-scores-out"},
		{Args: []string{"train", "-h"}, Want: "-csv"},
		{Args: []string{"stream", "--help"}, Want: "-metrics"},
		{Args: []string{"scenario", "--help"}, Want: "scenario run NAME"},
		{Args: []string{"scenario", "run", "-h"}, Want: "-json"},
	}, [][]string{{"bogus"}, {}, {"stream", "--bogus"}, {"eval", "--nope"}})
}
