package main

import (
	"net/url"
	"testing"
)

// TestHealthURLIsTheDefaultAddress: the image's HEALTHCHECK (`mlp healthcheck`) asks the
// address mlp serve listens on by default.
func TestHealthURLIsTheDefaultAddress(t *testing.T) {
	if u, err := url.Parse(healthURL); err != nil || u.Host != serveAddr {
		t.Fatalf("healthURL %s (%v), want host %s (serve's default --addr)", healthURL, err, serveAddr)
	}
}
