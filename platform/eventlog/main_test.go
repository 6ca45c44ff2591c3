package eventlog_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/testenv"
)

// env holds the NATS container shared by every test in this package.
var env *testenv.Env

// embedded is the in-process server shared by every test in this package.
var embedded *eventlog.Embedded

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	e, err := eventlog.StartEmbedded(eventlog.EmbeddedConfig{MaxPayload: 256 * 1024})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start embedded nats:", err)
		return 1
	}
	defer e.Shutdown()
	embedded = e
	return testenv.Run(m, testenv.Services{NATS: true}, &env)
}

// backends runs f against the embedded server and against the NATS container.
func backends(t *testing.T, f func(t *testing.T, url string)) {
	t.Run("embedded", func(t *testing.T) { f(t, embedded.URL()) })
	t.Run("container", func(t *testing.T) { f(t, env.NATSURL(t)) })
}

func open(t testing.TB, url string) *eventlog.Log {
	t.Helper()
	cfg := eventlog.DefaultConfig()
	cfg.URL = url
	l, err := eventlog.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open(%s) = %v", url, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

var unique atomic.Int64

// names gives a stream name and a subject prefix no other test uses.
func names(t testing.TB) (stream, subject string) {
	base := strings.ToUpper(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "_"))
	n := unique.Add(1)
	return fmt.Sprintf("%s_%d", base, n), fmt.Sprintf("t%d", n)
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
