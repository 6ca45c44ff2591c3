package natskv_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/casebook-ml/casebook/platform/eventlog"
	"github.com/casebook-ml/casebook/platform/registry"
	"github.com/casebook-ml/casebook/platform/registry/natskv"
	"github.com/casebook-ml/casebook/platform/registry/registrytest"
	"github.com/casebook-ml/casebook/platform/testenv"
)

var (
	env      *testenv.Env
	embedded *eventlog.Embedded
	unique   atomic.Int64
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	e, err := eventlog.StartEmbedded(eventlog.EmbeddedConfig{MaxPayload: 8 << 20})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start embedded nats:", err)
		return 1
	}
	defer e.Shutdown()
	embedded = e
	return testenv.Run(m, testenv.Services{NATS: true}, &env)
}

func harness(url func(t *testing.T) string) registrytest.Harness {
	return registrytest.Harness{
		Open: func(t *testing.T) registry.Store {
			cfg := eventlog.DefaultConfig()
			cfg.URL = url(t)
			l, err := eventlog.Open(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			sc := natskv.DefaultConfig()
			n := unique.Add(1)
			sc.KVBucket, sc.ObjectBucket = fmt.Sprintf("reg_%d", n), fmt.Sprintf("art_%d", n)
			s, err := natskv.Open(context.Background(), l.JetStream(), sc)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		OverwriteAudit: func(t *testing.T, s registry.Store, e registry.AuditEntry) {
			if err := s.(*natskv.Store).OverwriteAudit(context.Background(), e); err != nil {
				t.Fatal(err)
			}
		},
		ReplaceArtifact: func(t *testing.T, s registry.Store, sum string, data []byte) {
			if err := s.(*natskv.Store).ReplaceArtifact(context.Background(), sum, data); err != nil {
				t.Fatal(err)
			}
		},
		DeleteArtifact: func(t *testing.T, s registry.Store, sum string) {
			if err := s.(*natskv.Store).DeleteArtifact(context.Background(), sum); err != nil {
				t.Fatal(err)
			}
		},
	}
}

func TestConformanceEmbedded(t *testing.T) {
	registrytest.Run(t, harness(func(*testing.T) string { return embedded.URL() }))
}

func TestConformanceContainer(t *testing.T) {
	registrytest.Run(t, harness(func(t *testing.T) string { return env.NATSURL(t) }))
}

// TestConformanceSealedEmbedded runs the suite with artifacts sealed at rest in the Object
// Store.
func TestConformanceSealedEmbedded(t *testing.T) {
	h := harness(func(*testing.T) string { return embedded.URL() })
	h.Keyring = registrytest.TestKeyring(t)
	registrytest.Run(t, h)
}
