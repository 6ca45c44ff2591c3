package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/internal/walkthrough"
	"github.com/casebook-ml/casebook/platform/scenario"
)

func TestFeaturesCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := featuresCommand(ctx, append(args, "--dir", dir), walkthrough.Config{}, &out)
		return out.String(), err
	}
	if _, err := run("seed", "--hours", "1"); err != nil {
		t.Fatalf("seed: %v", err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"list"}, "tx_count_1h"},
		{[]string{"read", "--view", "customer_activity", "--entity", "7", "--at", "2018-04-01T01:00:00Z"}, "PRESENT"},
		{[]string{"read", "--view", "customer_activity", "--entity", "7", "--at", "2018-04-01T03:00:00Z"}, "STALE"},
		{[]string{"read", "--view", "customer_activity", "--entity", "nobody"}, "MISSING"},
		{[]string{"materialize", "--view", "customer_activity", "--incremental"}, "300 rows applied"},
		{[]string{"freshness", "--now", "2018-04-01T01:10:00Z"}, "10m"},
	} {
		out, err := run(tc.args...)
		if err != nil || !strings.Contains(out, tc.want) {
			t.Errorf("mlp features %s = %v\n%s\nwant output containing %q", strings.Join(tc.args, " "), err, out, tc.want)
		}
	}
	if _, err := run("read", "--view", "nope", "--entity", "1"); !errors.Is(err, features.ErrUnknownView) {
		t.Errorf("read --view nope = %v, want ErrUnknownView", err)
	}
	if _, err := run("bogus"); !errors.Is(err, scenario.ErrUsage) {
		t.Errorf("bogus = %v, want a usage error", err)
	}
}
