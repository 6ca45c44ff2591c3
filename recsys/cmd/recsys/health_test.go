package main

import (
	"net/url"
	"testing"
)

// TestHealthURLIsTheDefaultAddress: the image's HEALTHCHECK (`recsys healthcheck`) asks the
// address recsys serve listens on by default.
func TestHealthURLIsTheDefaultAddress(t *testing.T) {
	c, err := parseServe(nil)
	if err != nil {
		t.Fatal(err)
	}
	if u, err := url.Parse(healthURL); err != nil || u.Host != c.Addr {
		t.Fatalf("healthURL %s (%v), want host %s (serve's default --addr)", healthURL, err, c.Addr)
	}
}
