package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/casebook-ml/casebook/adsranking/openrtb"
	"github.com/casebook-ml/casebook/adsranking/sim"
	"github.com/casebook-ml/casebook/platform/cli/clitest"
)

func TestMain(m *testing.M) {
	clitest.RunMainIfChild(main)
	os.Exit(m.Run())
}

// TestServeDrainsOnSIGTERM: `adsranking serve` (the whole live system: event log,
// consumers, pacer) answers a bid request that is in flight when SIGTERM arrives, then
// exits 0.
func TestServeDrainsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a click model in a child process")
	}
	w, err := sim.New(sim.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	body, err := openrtb.Marshal(w.BidRequest(w.Requests(1, 7)[0]))
	if err != nil {
		t.Fatal(err)
	}
	clitest.InFlightSurvivesSIGTERM(t, clitest.Drain{
		Args:      []string{"serve", "--addr", "127.0.0.1:0", "--train-requests", "50000", "--floor", "10"},
		Env:       []string{"CASEBOOK_LOG_LEVEL=warn"},
		Listening: regexp.MustCompile(`listening on http://(127\.0\.0\.1:\d+) `),
		Health:    "/healthz",
		Method:    "POST", Path: "/openrtb2/auction", ContentType: "application/json",
		Body: body,
		Check: func(t *testing.T, b []byte) {
			if !strings.Contains(string(b), `"id"`) {
				t.Errorf("answer %s is not a bid response", b)
			}
		},
	})
}
