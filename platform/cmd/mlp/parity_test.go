package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/casebook-ml/casebook/platform/internal/walkthrough"
	"github.com/casebook-ml/casebook/platform/registry"
	regfs "github.com/casebook-ml/casebook/platform/registry/fs"
	"github.com/casebook-ml/casebook/platform/scenario"
)

// mlp train records the feature service the version was trained on, and mlp registry
// promote runs the schema gate by default: a version trained on another service is
// refused unless the operator says the schema change is deliberate.
func TestTrainRecordsServiceAndPromoteGatesSchema(t *testing.T) {
	ctx := context.Background()
	dir, ckpt := t.TempDir(), t.TempDir()
	var out bytes.Buffer
	if err := trainCmd(ctx, []string{"--dir", dir, "--checkpoints", ckpt, "--family", "logreg", "--rows", "3000", "--alias", registry.Champion},
		walkthrough.Config{}, &out); err != nil {
		t.Fatalf("mlp train: %v\n%s", err, out.String())
	}
	fc := regfs.DefaultConfig()
	fc.Dir = dir
	st, err := regfs.Open(fc)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.New(st, registry.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	v1, err := reg.Resolve(ctx, "fraud", registry.Champion)
	if err != nil {
		t.Fatal(err)
	}
	freg, err := trainFeatureRegistry()
	if err != nil {
		t.Fatal(err)
	}
	want, err := freg.SchemaHash(trainService)
	if err != nil {
		t.Fatal(err)
	}
	if v1.FeatureService != trainService || v1.FeatureServiceHash != want {
		t.Fatalf("mlp train registered feature service %q %q, want %q %q", v1.FeatureService, v1.FeatureServiceHash, trainService, want)
	}
	if err := freg.CheckSchema(trainService, v1.ServingSchemaHash()); err != nil {
		t.Errorf("CheckSchema(%s, v1's hash) = %v, want nil", trainService, err)
	}

	// The same model, equally good, but recorded as trained on another service version.
	data, err := reg.Artifact(ctx, v1)
	if err != nil {
		t.Fatal(err)
	}
	other := v1
	other.FeatureService, other.FeatureServiceHash, other.DataFingerprint = "fraud_train@2", "sha256:0123456789abcdef", v1.DataFingerprint+"-v2"
	v2, _, err := reg.Register(ctx, registry.RegisterRequest{Version: other, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	promote := func(extra ...string) (string, error) {
		var out bytes.Buffer
		args := append([]string{"promote", "fraud", "2", registry.Champion, "--dir", dir, "--actor", "t", "--reason", "test"}, extra...)
		err := registryCmd(ctx, args, walkthrough.Config{}, &out)
		return out.String(), err
	}
	got, err := promote()
	var ge *registry.GateError
	if !errors.As(err, &ge) || !strings.Contains(got, "✘ feature-schema") || !strings.Contains(got, "fraud_train@2") {
		t.Errorf("promote v%d (trained on fraud_train@2) = %v\n%s\nwant the feature-schema gate to refuse it", v2.Number, err, got)
	}
	if got, err := promote("--allow-schema-change"); err != nil || !strings.Contains(got, "v1 → v2") {
		t.Errorf("promote --allow-schema-change = %v\n%s\nwant champion v1 → v2", err, got)
	}
}

// lineWriter sends each write to a channel, so a test can wait for a command's output.
type lineWriter chan string

func (w lineWriter) Write(p []byte) (int, error) {
	w <- string(p)
	return len(p), nil
}

// mlp serve --feature-service serves the version mlp train recorded as trained on that
// service, and refuses one recorded as trained on another.
func TestServeFeatureServiceRefusesOtherVersions(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir, ckpt := t.TempDir(), t.TempDir()
	var out bytes.Buffer
	if err := trainCmd(ctx, []string{"--dir", dir, "--checkpoints", ckpt, "--family", "logreg", "--rows", "3000", "--alias", registry.Champion},
		walkthrough.Config{}, &out); err != nil {
		t.Fatalf("mlp train: %v\n%s", err, out.String())
	}
	// demo-lr is registered by --demo without any feature service.
	lines := make(lineWriter, 16)
	errc := make(chan error, 1)
	go func() {
		errc <- serveCmd(ctx, []string{"--dir", dir, "--addr", "127.0.0.1:0", "--demo", "--feature-service", trainService}, walkthrough.Config{}, lines)
	}()
	var addr string
	for addr == "" {
		select {
		case l := <-lines:
			if _, rest, ok := strings.Cut(l, " on http://"); ok {
				addr, _, _ = strings.Cut(rest, " ")
			}
		case err := <-errc:
			t.Fatalf("mlp serve ended early: %v", err)
		}
	}
	go func() {
		for range lines { // keep the command from blocking on output
		}
	}()
	resp, err := http.Post("http://"+addr+"/v2/repository/index", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var index []map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&index); err != nil {
		t.Fatal(err)
	}
	state := map[string]map[string]string{}
	for _, m := range index {
		state[m["name"]] = m
	}
	if state["fraud"]["state"] != "READY" || state["fraud"]["reason"] != "" {
		t.Errorf("fraud (trained on %s) = %v, want READY", trainService, state["fraud"])
	}
	if state["demo-lr"]["state"] != "UNAVAILABLE" || !strings.Contains(state["demo-lr"]["reason"], "another feature service") {
		t.Errorf("demo-lr (no feature service) = %v, want UNAVAILABLE with the refusal as reason", state["demo-lr"])
	}
	if err := serveCmd(ctx, []string{"--dir", dir, "--addr", "127.0.0.1:0", "--feature-service", "nope@1"}, walkthrough.Config{}, io.Discard); !errors.Is(err, scenario.ErrUsage) {
		t.Errorf("mlp serve --feature-service nope@1 = %v, want a usage error", err)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("mlp serve after cancel: %v", err)
	}
	close(lines)
}
