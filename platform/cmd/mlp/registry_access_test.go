package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/casebook-ml/casebook/platform/internal/walkthrough"
	"github.com/casebook-ml/casebook/platform/scenario"
)

// Promote and rollback on the command line refuse to run without a who and a why, before
// touching the registry.
func TestRegistryAdminCommandsNeedActorAndReason(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"promote", "fraud", "1", "champion", "--dir", dir, "--actor", "alice"},
		{"promote", "fraud", "1", "champion", "--dir", dir, "--actor", "", "--reason", "r"},
		{"rollback", "fraud", "champion", "--dir", dir, "--actor", "alice"},
		{"rollback", "fraud", "champion", "--dir", dir, "--actor", "alice", "--reason", "  "},
		{"archive", "fraud", "1", "--dir", dir, "--actor", "alice"},
	} {
		var out bytes.Buffer
		err := registryCmd(context.Background(), args, walkthrough.Config{}, &out)
		if !errors.Is(err, scenario.ErrUsage) || !strings.Contains(err.Error(), "needs --actor and --reason") {
			t.Errorf("mlp registry %s = %v, want a usage error asking for --actor and --reason", strings.Join(args, " "), err)
		}
	}
}
