package main

import (
	"net/url"
	"testing"

	"github.com/casebook-ml/casebook/fraud/internal/live"
)

// TestHealthURLIsTheDefaultAddress: the image's HEALTHCHECK (`fraud healthcheck`) asks the
// metrics address fraud stream serves /healthz on by default.
func TestHealthURLIsTheDefaultAddress(t *testing.T) {
	if u, err := url.Parse(healthURL); err != nil || u.Host != live.DefaultStreamConfig().MetricsAddr {
		t.Fatalf("healthURL %s (%v), want host %s (stream's default --metrics)", healthURL, err, live.DefaultStreamConfig().MetricsAddr)
	}
}
