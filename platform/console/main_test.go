package console

import (
	"os"
	"testing"

	"github.com/casebook-ml/casebook/platform/testenv"
)

// env holds the NATS JetStream container shared by this package's integration tests
// (stack_test.go): a real server, as on the compose stack. Without a Docker engine those
// tests skip (fail under CI=true) and the unit tests still run.
var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, testenv.Services{NATS: true}, &env))
}
