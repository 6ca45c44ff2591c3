package fs_test

import (
	"context"
	"os"
	"testing"

	"github.com/casebook-ml/casebook/platform/registry"
	"github.com/casebook-ml/casebook/platform/registry/fs"
	"github.com/casebook-ml/casebook/platform/registry/registrytest"
)

func TestConformance(t *testing.T) { registrytest.Run(t, harness()) }

// TestConformanceSealed runs the suite with artifacts sealed at rest (AES-256-GCM).
func TestConformanceSealed(t *testing.T) {
	h := harness()
	h.Keyring = registrytest.TestKeyring(t)
	registrytest.Run(t, h)
}

func harness() registrytest.Harness {
	return registrytest.Harness{
		Open: func(t *testing.T) registry.Store {
			cfg := fs.DefaultConfig()
			cfg.Dir = t.TempDir()
			cfg.PollInterval = 20e6
			s, err := fs.Open(cfg)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		OverwriteAudit: func(t *testing.T, s registry.Store, e registry.AuditEntry) {
			if err := s.(*fs.Store).OverwriteAudit(e); err != nil {
				t.Fatal(err)
			}
		},
		ReplaceArtifact: func(t *testing.T, s registry.Store, sum string, data []byte) {
			if err := os.WriteFile(s.(*fs.Store).ArtifactPath(sum), data, 0o644); err != nil {
				t.Fatal(err)
			}
		},
		DeleteArtifact: func(t *testing.T, s registry.Store, sum string) {
			if err := os.Remove(s.(*fs.Store).ArtifactPath(sum)); err != nil {
				t.Fatal(err)
			}
		},
	}
}

// A crash between writing a version's temporary file and linking it leaves no version.
func TestNoHalfWrittenVersion(t *testing.T) {
	cfg := fs.DefaultConfig()
	cfg.Dir = t.TempDir()
	s, err := fs.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg.Dir+"/tmp/w-crashed", []byte(`{"model":"m","vers`), 0o644); err != nil {
		t.Fatal(err)
	}
	vs, err := s.ListVersions(context.Background(), "m")
	if err != nil || len(vs) != 0 {
		t.Errorf("ListVersions after a crashed write = %v, %v; want none", vs, err)
	}
}
