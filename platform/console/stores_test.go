package console

import (
	"context"
	"testing"

	"github.com/casebook-ml/casebook/platform/console/consoletest"
)

// TestOpenStoresLocalDefault is mlp console with no flags: a filesystem registry and an
// embedded event log (TestAgainstNATSServer covers --nats).
func TestOpenStoresLocalDefault(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	reg, l, closeStores, err := OpenStores(ctx, Stores{Dir: dir})
	if err != nil {
		t.Fatalf("OpenStores(local default) = %v, want the filesystem registry and an embedded log", err)
	}
	defer closeStores()
	if _, err := consoletest.Seed(ctx, reg, l, consoletest.Options{Prefix: "local", Models: 1, Versions: 1, Predictions: 10}); err != nil {
		t.Fatal(err)
	}
	// The models are in the directory: a second opening of it sees them.
	again, _, closeAgain, err := OpenStores(ctx, Stores{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer closeAgain()
	if models, err := again.Models(ctx); err != nil || len(models) != 1 || models[0] != "local-000" {
		t.Errorf("models in %s = %v, %v, want [local-000]", dir, models, err)
	}
}
