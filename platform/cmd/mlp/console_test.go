package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/casebook-ml/casebook/platform/internal/walkthrough"
	"github.com/casebook-ml/casebook/platform/scenario"
)

// TestConsoleRefusesAnOpenNetworkAddress: without a keys file the console's reads are
// open, so it must not listen beyond loopback.
func TestConsoleRefusesAnOpenNetworkAddress(t *testing.T) {
	err := run(context.Background(), []string{"console", "--addr", "0.0.0.0:0", "--dir", t.TempDir()}, walkthrough.Config{}, io.Discard)
	if !errors.Is(err, scenario.ErrUsage) || !strings.Contains(err.Error(), "not loopback") {
		t.Errorf("console on 0.0.0.0 without --keys: err = %v, want a usage error about loopback", err)
	}
}
