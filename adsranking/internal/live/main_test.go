package live

import (
	"os"
	"testing"

	"github.com/casebook-ml/casebook/platform/testenv"
)

// env holds the NATS JetStream and Redis containers the integration tests run against
// (one of each per package).
var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, testenv.Services{NATS: true, Redis: true}, &env))
}
