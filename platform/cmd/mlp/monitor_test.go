package main

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/casebook-ml/casebook/platform/internal/walkthrough"
	"github.com/casebook-ml/casebook/platform/scenario"
)

func TestMonitorDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	t.Setenv("CASEBOOK_NATS_URL", "")
	if err := run(ctx, []string{"monitor", "fraud", "--demo", "--reference", "3000", "--live", "1000"}, walkthrough.Config{}, &out); err != nil {
		t.Fatalf("mlp monitor fraud --demo: %v\n%s", err, out.String())
	}
	s := out.String()
	for _, re := range []string{
		`(?m)^x0\s+psi\s+\d+\.\d+\s+warn≥0\.1 alert≥0\.2\s+alert$`, // the drifted feature, with method, value and threshold
		`(?m)^x1\s+psi\s+0\.0\d+\s+warn≥0\.1 alert≥0\.2\s+ok$`,     // an undrifted one
		`(?m)^score\s+ks\s+stat=\S+ p=\S+\s+warn p<0\.05 alert p<0\.01\s+alert$`,
		`(?m)^drift_x0_psi\s+warning\s+drift:x0:psi`, // the current alert
		`(?m)^v1\s+4000\s+`, // every prediction's outcome joined
	} {
		if !regexp.MustCompile(re).MatchString(s) {
			t.Errorf("mlp monitor output does not match %s:\n%s", re, s)
		}
	}
	if strings.Contains(s, "drift_x1_psi") {
		t.Errorf("x1 alert shown as firing:\n%s", s)
	}
	err := run(ctx, []string{"monitor"}, walkthrough.Config{}, &out)
	if !errors.Is(err, scenario.ErrUsage) {
		t.Errorf("mlp monitor without a model: err = %v, want a usage error", err)
	}
	err = run(ctx, []string{"monitor", "fraud"}, walkthrough.Config{}, &out)
	if !errors.Is(err, scenario.ErrUsage) {
		t.Errorf("mlp monitor without --nats or --demo: err = %v, want a usage error", err)
	}
}
