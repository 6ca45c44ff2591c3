package live

import (
	"os"
	"testing"

	"github.com/casebook-ml/casebook/platform/testenv"
)

// env holds the Redis container the outage test runs against (one per package).
var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, testenv.Services{Redis: true}, &env))
}
