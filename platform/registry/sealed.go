package registry

import (
	"context"
	"errors"
	"fmt"

	"github.com/casebook-ml/casebook/platform/seal"
)

// Encryption at rest. With Config.Keyring set, Register seals the artifact before PutArtifact,
// so every Store (fs, natskv) holds only ciphertext, and records the key id in
// Version.ArtifactKeyID. The artifact's id stays the sha256 of the plaintext and is checked
// after opening; the sha256 is also the envelope's associated data, so a sealed artifact
// copied under another artifact's name fails to open.
//
// Migration: a version registered before encryption was turned on (ArtifactKeyID "") whose
// stored bytes are in the clear still loads, with a warning; a version that records a key
// but whose stored bytes are in the clear is refused as corrupt (a downgrade).

func artifactAAD(sum string) []byte { return []byte("casebook registry artifact sha256:" + sum) }

// sealArtifact returns the bytes to store for data and the id of the key they are sealed
// with. When the store already holds the artifact (content addressing: PutArtifact is then a
// no-op), the key id is the one of the stored copy.
func (r *Registry) sealArtifact(ctx context.Context, sum string, data []byte) ([]byte, string, error) {
	kr := r.cfg.Keyring
	if !kr.Enabled() {
		return data, "", nil
	}
	existing, err := r.store.GetArtifact(ctx, sum)
	switch {
	case err == nil && seal.IsSealed(existing):
		h, err := seal.ParseHeader(existing)
		if err != nil {
			return nil, "", fmt.Errorf("stored artifact sha256:%s: %w", short(sum), err)
		}
		return existing, h.KeyID, nil
	case err == nil:
		r.log.Warn("artifact stored in the clear before encryption was turned on; kept as is", "artifact", short(sum))
		return existing, "", nil
	case !errors.Is(err, ErrArtifactNotFound):
		return nil, "", fmt.Errorf("look up artifact sha256:%s: %w", short(sum), err)
	}
	sealed, err := kr.Seal(data, artifactAAD(sum))
	if err != nil {
		return nil, "", fmt.Errorf("seal artifact: %w", err)
	}
	return sealed, kr.SealKeyID(), nil
}

// openArtifact turns stored bytes into the plaintext artifact, or refuses them.
func (r *Registry) openArtifact(v Version, data []byte) ([]byte, error) {
	fail := func(outcome string, err error) error {
		r.metrics.loads.WithLabelValues(outcome).Inc()
		r.log.Error("artifact refused", "model", v.Model, "version", v.Number, "err", err)
		return &ArtifactError{Model: v.Model, Version: v.Number, Want: v.Artifact, Err: err}
	}
	if !seal.IsSealed(data) {
		if v.ArtifactKeyID != "" {
			return nil, fail("corrupt", fmt.Errorf("%w: the version records key %s but the stored bytes are not sealed", ErrArtifactCorrupt, v.ArtifactKeyID))
		}
		if r.cfg.Keyring.Enabled() {
			r.log.Warn("artifact is stored in the clear (registered before encryption was on)", "model", v.Model, "version", v.Number)
		}
		return data, nil
	}
	pt, err := r.cfg.Keyring.Open(data, artifactAAD(v.Artifact))
	switch {
	case errors.Is(err, seal.ErrUnknownKey):
		return nil, fail("key_missing", err)
	case err != nil:
		return nil, fail("corrupt", fmt.Errorf("%w: %w", ErrArtifactCorrupt, err))
	}
	return pt, nil
}
