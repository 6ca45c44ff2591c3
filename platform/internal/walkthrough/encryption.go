package walkthrough

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/featurestest"
	"github.com/casebook-ml/casebook/platform/ml"
	"github.com/casebook-ml/casebook/platform/ml/mltest"
	"github.com/casebook-ml/casebook/platform/registry"
	regfs "github.com/casebook-ml/casebook/platform/registry/fs"
	"github.com/casebook-ml/casebook/platform/scenario"
	"github.com/casebook-ml/casebook/platform/seal"
)

// encryption shows encryption at rest: a registry artifact and an offline Parquet file
// sealed on disk, opened with the right key, refused with a wrong key, with a key id the
// process lacks, and after one flipped byte.
func encryption(cfg Config) scenario.Scenario {
	return scenario.Scenario{
		Name:    "privacy/encryption",
		Summary: "A model artifact and a Parquet feature file are sealed at rest with AES-256-GCM: no plaintext on disk, opened with the right key, refused (never garbage) with a wrong key, a missing key id or a flipped byte.",
		Run: func(ctx context.Context, r *scenario.Report) error {
			dir, err := os.MkdirTemp("", "casebook-encryption-*")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			r.Step("Data keys are generated for this run (in production they come from CASEBOOK_DATA_KEY)")
			kr, err := seal.ParseKeyring("demo-k1:" + randomKeyHex())
			if err != nil {
				return err
			}
			wrong, err := seal.ParseKeyring("demo-k1:" + randomKeyHex()) // same id, another secret
			if err != nil {
				return err
			}
			other, err := seal.ParseKeyring("demo-k0:" + randomKeyHex()) // an older key only
			if err != nil {
				return err
			}
			r.Say("keyring: %s seals; a second process holds another secret under demo-k1; a third holds only demo-k0", kr.SealKeyID())
			if err := sealedArtifact(ctx, cfg, r, dir, kr, wrong, other); err != nil {
				return err
			}
			return sealedParquet(ctx, cfg, r, dir, kr, wrong, other)
		},
	}
}

func randomKeyHex() string {
	b := make([]byte, seal.KeySize)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}

func sealedArtifact(ctx context.Context, cfg Config, r *scenario.Report, dir string, kr, wrong, other *seal.Keyring) error {
	r.Step("A model is registered in a filesystem registry whose Config.Keyring holds demo-k1")
	fc := regfs.DefaultConfig()
	fc.Dir, fc.Logger = filepath.Join(dir, "registry"), cfg.Logger
	st, err := regfs.Open(fc)
	if err != nil {
		return err
	}
	open := func(k *seal.Keyring) (*registry.Registry, error) {
		rc := registry.DefaultConfig()
		rc.Logger, rc.Keyring = cfg.Logger, k
		return registry.New(st, rc)
	}
	reg, err := open(kr)
	if err != nil {
		return err
	}
	d := mltest.Fraudish(2_000, 6, 7).Dataset
	m, err := ml.TrainLogReg(ctx, d, ml.DefaultLogRegConfig())
	if err != nil {
		return err
	}
	art, err := m.MarshalBinary()
	if err != nil {
		return err
	}
	v, _, err := reg.Register(ctx, registry.RegisterRequest{Data: art, Version: registry.Version{
		Model: "fraud", Family: string(ml.FamilyLogReg), Schema: d.Schema, RegisteredBy: "scenario",
		Metrics: map[string]ml.Metrics{"holdout": {ml.MetricAUC: 0.9}}, DataFingerprint: "encryption-demo",
	}})
	if err != nil {
		return err
	}
	path := st.ArtifactPath(v.Artifact)
	stored, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	h, err := seal.ParseHeader(stored)
	if err != nil {
		return err
	}
	r.Say("version record: artifact sha256:%s (of the plaintext), %d bytes, artifact_key_id %q", v.Artifact[:12], v.Size, v.ArtifactKeyID)
	r.Say("on disk: %s, %d bytes, starts %q, envelope key id %s", strings.TrimPrefix(path, dir+"/"), len(stored), stored[:6], h.KeyID)
	found, blocks := plaintextBlocks(art, stored)
	r.Measure("artifact plaintext 16-byte blocks found in the stored file", float64(found), "")
	inPlain, inStored := 0, 0
	for _, n := range d.Schema.Names() {
		if bytes.Contains(art, []byte(n)) {
			inPlain++
			if bytes.Contains(stored, []byte(n)) {
				inStored++
			}
		}
	}
	r.Say("feature names: %d of %d are in the plaintext artifact, %d of those in the stored file", inPlain, d.Schema.Len(), inStored)
	r.Check(fmt.Sprintf("the stored artifact is sealed: 0 of its %d plaintext blocks and no feature name appear in the file", blocks),
		found == 0 && inStored == 0 && v.ArtifactKeyID == "demo-k1" && h.KeyID == "demo-k1")

	r.Step("Loading: with the right key, a wrong key, a key id the process lacks, and after a flipped byte")
	got, err := reg.Artifact(ctx, v)
	r.Check("with demo-k1: opened and its sha256 verified, bytes equal to what was registered", err == nil && bytes.Equal(got, art))
	checkRefused := func(what string, k *seal.Keyring, want error) error {
		rr, err := open(k)
		if err != nil {
			return err
		}
		got, lerr := rr.Artifact(ctx, v)
		r.Say("%s: %v", what, lerr)
		r.Check(fmt.Sprintf("%s: refused (%v), no bytes returned", what, want), errors.Is(lerr, want) && got == nil)
		return nil
	}
	if err := checkRefused("wrong secret under demo-k1", wrong, seal.ErrAuth); err != nil {
		return err
	}
	if err := checkRefused("only demo-k0", other, seal.ErrUnknownKey); err != nil {
		return err
	}
	flipped := bytes.Clone(stored)
	flipped[len(flipped)/2] ^= 0x01
	if err := os.WriteFile(path, flipped, 0o644); err != nil {
		return err
	}
	return checkRefused("one flipped byte, right key", kr, seal.ErrAuth)
}

// plaintextBlocks counts the 16-byte blocks of plain (at every 16th offset) that occur
// anywhere in stored.
func plaintextBlocks(plain, stored []byte) (found, blocks int) {
	windows := make(map[string]struct{}, len(stored))
	for i := 0; i+16 <= len(stored); i++ {
		windows[string(stored[i:i+16])] = struct{}{}
	}
	for i := 0; i+16 <= len(plain); i += 16 {
		blocks++
		if _, ok := windows[string(plain[i:i+16])]; ok {
			found++
		}
	}
	return found, blocks
}

func sealedParquet(ctx context.Context, cfg Config, r *scenario.Report, dir string, kr, wrong, other *seal.Keyring) error {
	r.Step("A day of the profile view is written to an offline store whose OfflineConfig.Keyring holds demo-k1")
	offDir := filepath.Join(dir, "features")
	open := func(k *seal.Keyring) (*features.OfflineStore, error) {
		reg, err := featurestest.Registry()
		if err != nil {
			return nil, err
		}
		oc := features.DefaultOfflineConfig()
		oc.Dir, oc.Logger, oc.Keyring = offDir, cfg.Logger, k
		return features.OpenOffline(oc, reg)
	}
	o, err := open(kr)
	if err != nil {
		return err
	}
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var rows []features.Row
	for i := 0; i < 20_000; i++ {
		rows = append(rows, featurestest.ProfileRow(fmt.Sprintf("customer-%05d", i), day.Add(time.Duration(i)*4*time.Second), uint64(i), int64(18+i%60)))
	}
	if err := o.Append(ctx, "profile", rows); err != nil {
		return err
	}
	pf := o.Manifest().Views["profile"].Partitions["2026-11-01"].Files[0]
	path := filepath.Join(offDir, pf.Path)
	stored, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	r.Say("manifest: %s, %d rows, key_id %q", pf.Path, pf.Rows, pf.KeyID)
	var seen []string
	for _, needle := range []string{"PAR1", "f_country", "f_embedding", "customer-00042", "profile"} {
		if bytes.Contains(stored, []byte(needle)) {
			seen = append(seen, needle)
		}
	}
	r.Say("on disk: %d bytes, starts %q; looked for PAR1, f_country, f_embedding, customer-00042, profile: found %v", len(stored), stored[:6], seen)
	r.Check("the Parquet file is sealed: no Parquet magic, column name or entity id in the clear", len(seen) == 0 && pf.KeyID == "demo-k1")

	got, err := o.Scan(ctx, "profile", time.Time{}, time.Time{})
	r.Check(fmt.Sprintf("with demo-k1: Scan returns all %d rows, customer-00042's country %q", len(rows), "c4"),
		err == nil && len(got) == len(rows) && got[42].Entity == "customer-00042" && got[42].Values[2].Str() == "c4")
	refused := func(what string, k *seal.Keyring, want error) error {
		ro, err := open(k)
		if err != nil {
			return err
		}
		got, serr := ro.Scan(ctx, "profile", time.Time{}, time.Time{})
		r.Say("%s: %v", what, serr)
		r.Check(fmt.Sprintf("%s: refused (%v), no rows", what, want), errors.Is(serr, want) && len(got) == 0)
		return nil
	}
	if err := refused("wrong secret under demo-k1", wrong, seal.ErrAuth); err != nil {
		return err
	}
	if err := refused("only demo-k0", other, seal.ErrUnknownKey); err != nil {
		return err
	}
	if err := refused("no keyring", nil, seal.ErrUnknownKey); err != nil {
		return err
	}

	r.Step("What sealing costs: seal + open of this file's bytes, in memory")
	plain, err := kr.Open(stored, []byte("casebook offline partition "+filepath.ToSlash(pf.Path)))
	if err != nil {
		return err
	}
	const reps = 20
	start := time.Now()
	for i := 0; i < reps; i++ {
		env, err := kr.Seal(plain, nil)
		if err != nil {
			return err
		}
		if _, err := kr.Open(env, nil); err != nil {
			return err
		}
	}
	el := time.Since(start)
	r.Measure("seal+open throughput", float64(len(plain)*reps)/el.Seconds()/1e6, "MB/s")
	r.Say("%d × seal+open of %d bytes in %v; envelope overhead %d bytes", reps, len(plain), el.Round(time.Millisecond), len(stored)-len(plain))

	flipped := bytes.Clone(stored)
	flipped[len(flipped)/3] ^= 0x01
	if err := os.WriteFile(path, flipped, 0o644); err != nil {
		return err
	}
	return refused("one flipped byte, right key", kr, seal.ErrAuth)
}
