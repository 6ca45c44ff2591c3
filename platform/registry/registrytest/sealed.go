package registrytest

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/casebook-ml/casebook/platform/registry"
	"github.com/casebook-ml/casebook/platform/seal"
)

// testSealed checks encryption at rest through the Registry: ciphertext in the store, the
// key id recorded, refusals for a missing key, a wrong key, a flipped byte, an artifact
// swapped for another and a sealed artifact replaced by plaintext, and loading of artifacts
// stored in the clear before encryption was turned on.
func testSealed(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.Open(t)
	open := func(kr *seal.Keyring) *registry.Registry {
		cfg := registry.DefaultConfig()
		cfg.Keyring = kr
		r, err := registry.New(s, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	// Before encryption: v1 in the clear.
	plain := open(nil)
	v1 := register(t, plain, Request(t, "m", "fp-1", 0.8))
	if v1.ArtifactKeyID != "" {
		t.Errorf("unencrypted Register recorded key %q", v1.ArtifactKeyID)
	}

	r := open(h.Keyring)
	if _, _, err := r.Load(ctx, "m", "1"); err != nil {
		t.Errorf("Load(v1 stored in the clear) with a keyring = %v, want it loaded (migration)", err)
	}
	other := []byte("an ann index, not a model: opaque bytes")
	req := Request(t, "idx", "fp-2", 0.8)
	req.Family, req.Data = "ann-index", other
	v2 := register(t, r, req)
	if v2.ArtifactKeyID != h.Keyring.SealKeyID() || v2.Artifact != registry.Sum(other) {
		t.Errorf("sealed Register recorded key %q sha256 %s, want key %q and the plaintext's sha256", v2.ArtifactKeyID, v2.Artifact, h.Keyring.SealKeyID())
	}
	stored, err := s.GetArtifact(ctx, v2.Artifact)
	if err != nil {
		t.Fatal(err)
	}
	if !seal.IsSealed(stored) || bytes.Contains(stored, other) || bytes.Contains(stored, []byte("ann index")) {
		t.Fatalf("the store holds plaintext for a sealed registry")
	}
	if got, err := r.Artifact(ctx, v2); err != nil || !bytes.Equal(got, other) {
		t.Fatalf("Artifact(sealed v) = %q, %v; want the plaintext", got, err)
	}
	// The content-addressed dedup keeps a key id: registering the same bytes again records
	// the stored copy's key.
	req.DataFingerprint = "fp-3"
	if v3 := register(t, r, req); v3.ArtifactKeyID != v2.ArtifactKeyID {
		t.Errorf("re-registering the same bytes recorded key %q, want %q", v3.ArtifactKeyID, v2.ArtifactKeyID)
	}

	// A process without the key, or with another key under another id: ErrUnknownKey.
	for name, kr := range map[string]*seal.Keyring{"no keyring": nil, "other key id": mustRing(t, "zz:"+hexKey(7))} {
		_, err := open(kr).Artifact(ctx, v2)
		var ae *registry.ArtifactError
		if !errors.As(err, &ae) || !errors.Is(err, seal.ErrUnknownKey) {
			t.Errorf("%s: Artifact(sealed) = %v, want an ArtifactError wrapping seal.ErrUnknownKey", name, err)
		}
	}
	// The right id with the wrong secret: authentication fails, reported as corrupt.
	wrong := mustRing(t, h.Keyring.SealKeyID()+":"+hexKey(9))
	if _, err := open(wrong).Artifact(ctx, v2); !errors.Is(err, seal.ErrAuth) || !errors.Is(err, registry.ErrArtifactCorrupt) {
		t.Errorf("wrong key: Artifact = %v, want ErrAuth and ErrArtifactCorrupt", err)
	}
	// A flipped byte in the sealed bytes.
	flipped := bytes.Clone(stored)
	flipped[len(flipped)-3] ^= 1
	h.ReplaceArtifact(t, s, v2.Artifact, flipped)
	if got, err := r.Artifact(ctx, v2); !errors.Is(err, seal.ErrAuth) || got != nil {
		t.Errorf("tampered: Artifact = %q, %v; want nil and ErrAuth", got, err)
	}
	// Another sealed artifact copied under v2's name: the sha256 is the associated data.
	v4 := register(t, r, Request(t, "m", "fp-4", 0.8)) // same bytes as v1: stored in the clear already
	req5 := req
	req5.Model, req5.Data, req5.DataFingerprint = "idx2", []byte("another index's bytes"), "fp-5"
	v5 := register(t, r, req5)
	sealed5, err := s.GetArtifact(ctx, v5.Artifact)
	if err != nil {
		t.Fatal(err)
	}
	h.ReplaceArtifact(t, s, v2.Artifact, sealed5)
	if _, err := r.Artifact(ctx, v2); !errors.Is(err, seal.ErrAuth) {
		t.Errorf("swapped: Artifact = %v, want ErrAuth", err)
	}
	// A sealed version whose bytes are replaced by the plaintext (a downgrade): refused.
	h.ReplaceArtifact(t, s, v2.Artifact, other)
	if _, err := r.Artifact(ctx, v2); !errors.Is(err, registry.ErrArtifactCorrupt) {
		t.Errorf("downgraded to plaintext: Artifact = %v, want ErrArtifactCorrupt", err)
	}
	if v4.ArtifactKeyID != "" {
		t.Errorf("registering bytes stored in the clear recorded key %q, want \"\" (the stored copy is not sealed)", v4.ArtifactKeyID)
	}
}

func hexKey(b byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*seal.KeySize)
	for i := 0; i < seal.KeySize; i++ {
		x := b + byte(i)
		out = append(out, digits[x>>4], digits[x&15])
	}
	return string(out)
}

func mustRing(t *testing.T, spec string) *seal.Keyring {
	t.Helper()
	k, err := seal.ParseKeyring(spec)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestKeyring is a keyring for conformance runs with encryption on.
func TestKeyring(t testing.TB) *seal.Keyring {
	k, err := seal.ParseKeyring("conformance-k1:" + hexKey(1))
	if err != nil {
		t.Fatal(err)
	}
	return k
}
