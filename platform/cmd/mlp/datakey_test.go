package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/casebook-ml/casebook/platform/seal"
)

// CASEBOOK_DATA_KEY reaches the registry: mlp train seals the artifact it registers, mlp
// registry show opens it with the key and refuses it, naming the key, without; a malformed
// variable stops every command with an error that names it.
func TestDataKeyFromEnvironment(t *testing.T) {
	ctx := context.Background()
	dir, ckpt := t.TempDir(), t.TempDir()
	t.Setenv("CASEBOOK_REGISTRY_DIR", dir)
	t.Setenv(seal.EnvKey, "t1:"+strings.Repeat("ab", seal.KeySize))
	var out bytes.Buffer
	if err := mainErr(ctx, []string{"train", "--checkpoints", ckpt, "--family", "logreg", "--rows", "3000"}, &out); err != nil {
		t.Fatalf("mlp train: %v\n%s", err, out.String())
	}
	var artifact string
	filepath.WalkDir(filepath.Join(dir, "artifacts"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			artifact = p
		}
		return nil
	})
	b, err := os.ReadFile(artifact)
	if err != nil || !seal.IsSealed(b) {
		t.Fatalf("stored artifact %s: sealed %v, %v; want a sealed envelope", artifact, seal.IsSealed(b), err)
	}
	out.Reset()
	if err := mainErr(ctx, []string{"registry", "show", "fraud", "1"}, &out); err != nil || !strings.Contains(out.String(), "sealed with key t1") || !strings.Contains(out.String(), "✔ verified") {
		t.Errorf("mlp registry show with the key = %v:\n%s\nwant the key named and the artifact verified", err, out.String())
	}
	t.Setenv(seal.EnvKey, "")
	out.Reset()
	_ = mainErr(ctx, []string{"registry", "show", "fraud", "1"}, &out)
	if !strings.Contains(out.String(), "sealed with key t1, which this process does not have") {
		t.Errorf("mlp registry show without the key:\n%s\nwant the refusal naming key t1", out.String())
	}
	t.Setenv(seal.EnvKey, "t1:not-hex")
	if err := mainErr(ctx, []string{"registry", "list"}, io.Discard); err == nil || !strings.Contains(err.Error(), seal.EnvKey) {
		t.Errorf("mlp with a malformed %s = %v, want an error naming it", seal.EnvKey, err)
	}
}
