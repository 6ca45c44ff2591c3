package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/casebook-ml/casebook/platform/cli/clitest"
)

func TestMain(m *testing.M) {
	clitest.RunMainIfChild(main)
	os.Exit(m.Run())
}

// TestServeDrainsOnSIGTERM: `recsys serve` answers a request that is in flight when
// SIGTERM arrives, then exits 0. The request is a GET with a body the server must read
// before it answers, which keeps it in flight until the test sends the rest. --noop serves
// the same HTTP path and server without the minute of training a real model takes here.
func TestServeDrainsOnSIGTERM(t *testing.T) {
	clitest.InFlightSurvivesSIGTERM(t, clitest.Drain{
		Args:      []string{"serve", "--noop", "--addr", "127.0.0.1:0"},
		Env:       []string{"CASEBOOK_LOG_LEVEL=warn"},
		Listening: regexp.MustCompile(`listening on http://(127\.0\.0\.1:\d+) `),
		Health:    "/healthz",
		Method:    "GET", Path: "/v1/users/1/recommendations?k=5", ContentType: "text/plain",
		Body: []byte(strings.Repeat("x", 64)),
		Check: func(t *testing.T, b []byte) {
			if !strings.Contains(string(b), `"items"`) {
				t.Errorf("answer %s has no items", b)
			}
		},
	})
}
