package main

import (
	"errors"
	"testing"

	"github.com/casebook-ml/casebook/platform/privacy/pii"
	"github.com/casebook-ml/casebook/platform/scenario"
)

// TestTokenizerKeyChoice: the environment's key wins; without one the memory store gets a
// key of its own process, and a Redis store refuses to start.
func TestTokenizerKeyChoice(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	tok, err := tokenizer(getenv, true)
	if err != nil || !tok.Ephemeral || tok.IsDemo {
		t.Errorf("tokenizer(no key, memory) = %+v, %v, want an ephemeral key", tok, err)
	}
	if _, err := tokenizer(getenv, false); !errors.Is(err, scenario.ErrUsage) {
		t.Errorf("tokenizer(no key, Redis) = %v, want a usage error", err)
	}
	env[pii.EnvKey] = "v3:00112233445566778899aabbccddeeff"
	for _, local := range []bool{true, false} {
		if tok, err := tokenizer(getenv, local); err != nil || tok.Ephemeral || tok.Current() != 3 {
			t.Errorf("tokenizer(key v3, memory=%v) = %+v, %v, want key v3", local, tok, err)
		}
	}
	env[pii.EnvKey] = "v3:0011"
	if _, err := tokenizer(getenv, true); !errors.Is(err, pii.ErrKey) {
		t.Errorf("tokenizer(short key) = %v, want ErrKey", err)
	}
}
