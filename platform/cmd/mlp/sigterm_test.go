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

// TestServeDrainsOnSIGTERM: `mlp serve` answers an inference request that is in flight
// when SIGTERM arrives, then exits 0 (what a container stop or a pod eviction sends).
func TestServeDrainsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("trains the demo models in a child process")
	}
	clitest.InFlightSurvivesSIGTERM(t, clitest.Drain{
		Args:      []string{"serve", "--demo", "--dir", t.TempDir(), "--models", "demo-lr", "--addr", "127.0.0.1:0"},
		Env:       []string{"CASEBOOK_LOG_LEVEL=warn"},
		Listening: regexp.MustCompile(`on http://(127\.0\.0\.1:\d+) `),
		Health:    "/v2/health/ready",
		Method:    "POST", Path: "/v2/models/demo-lr/infer", ContentType: "application/json",
		Body: []byte(`{"inputs":[{"name":"input","shape":[1,15],"datatype":"FP64","data":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}]}`),
		Check: func(t *testing.T, body []byte) {
			if !strings.Contains(string(body), `"outputs"`) {
				t.Errorf("answer %s has no outputs", body)
			}
		},
	})
}
