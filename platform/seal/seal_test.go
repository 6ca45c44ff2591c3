package seal

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func ring(t *testing.T, spec string) *Keyring {
	t.Helper()
	k, err := ParseKeyring(spec)
	if err != nil {
		t.Fatalf("ParseKeyring(%q) = %v", spec, err)
	}
	return k
}

const (
	hexA = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	hexB = "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100"
)

func TestSealOpenRoundTrip(t *testing.T) {
	k := ring(t, "k2:"+hexB+",k1:"+hexA)
	pt := []byte("feature amount_sum_1h = 1234.5")
	env, err := k.Seal(pt, []byte("obj-1"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(env, pt) || bytes.Contains(env, []byte("amount_sum_1h")) {
		t.Errorf("Seal output contains the plaintext")
	}
	h, err := ParseHeader(env)
	if err != nil || h.KeyID != "k2" || h.Version != 1 {
		t.Errorf("ParseHeader = %+v, %v; want key k2 (the first), version 1", h, err)
	}
	got, err := k.Open(env, []byte("obj-1"))
	if err != nil || !bytes.Equal(got, pt) {
		t.Errorf("Open = %q, %v; want the plaintext", got, err)
	}
	// An older key in the ring still opens what it sealed (rotation).
	old := ring(t, "k1:"+hexA)
	env1, _ := old.Seal(pt, nil)
	if got, err := k.Open(env1, nil); err != nil || !bytes.Equal(got, pt) {
		t.Errorf("Open(sealed with k1) by ring [k2 k1] = %q, %v", got, err)
	}
	// Two seals of the same bytes differ (random nonce).
	env2, _ := k.Seal(pt, []byte("obj-1"))
	if bytes.Equal(env, env2) {
		t.Errorf("two seals of the same plaintext are identical: nonce reused")
	}
}

func TestOpenRefusals(t *testing.T) {
	k1 := ring(t, "k1:"+hexA)
	pt := bytes.Repeat([]byte("secret rows "), 20)
	env, err := k1.Seal(pt, []byte("views/tx/2026-11-01/v0001-0.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		b := bytes.Clone(env)
		b[i] ^= 0x01
		return b
	}
	h, _ := ParseHeader(env)
	cases := []struct {
		name    string
		ring    *Keyring
		data    []byte
		aad     string
		want    error
		mention string
	}{
		{"missing key id", ring(t, "k9:"+hexA), env, "views/tx/2026-11-01/v0001-0.parquet", ErrUnknownKey, "sealed with key k1, which this process does not have"},
		{"no keyring", nil, env, "views/tx/2026-11-01/v0001-0.parquet", ErrUnknownKey, "CASEBOOK_DATA_KEY"},
		{"wrong key under the same id", ring(t, "k1:"+hexB), env, "views/tx/2026-11-01/v0001-0.parquet", ErrAuth, "key k1"},
		{"tampered ciphertext byte", k1, flip(len(env) - 40), "views/tx/2026-11-01/v0001-0.parquet", ErrAuth, ""},
		{"tampered tag byte", k1, flip(len(env) - 1), "views/tx/2026-11-01/v0001-0.parquet", ErrAuth, ""},
		{"tampered nonce byte", k1, flip(h.size - 1), "views/tx/2026-11-01/v0001-0.parquet", ErrAuth, ""},
		{"moved to another name", k1, env, "views/tx/2026-11-02/v0001-0.parquet", ErrAuth, ""},
		{"truncated body", k1, env[:len(env)-5], "views/tx/2026-11-01/v0001-0.parquet", ErrAuth, ""},
		{"truncated in the header", k1, env[:len(magic)+4], "views/tx/2026-11-01/v0001-0.parquet", ErrTruncated, ""},
		{"truncated in the magic", k1, env[:3], "", ErrTruncated, ""},
		{"unknown format version", k1, flip(len(magic)), "views/tx/2026-11-01/v0001-0.parquet", ErrVersion, ""},
		{"plaintext", k1, pt, "", ErrNotSealed, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.ring.Open(c.data, []byte(c.aad))
			if !errors.Is(err, c.want) {
				t.Fatalf("Open = %q, %v; want %v", got, err, c.want)
			}
			if got != nil {
				t.Errorf("Open returned %d bytes with an error", len(got))
			}
			if c.mention != "" && !strings.Contains(err.Error(), c.mention) {
				t.Errorf("Open error %q does not say %q", err, c.mention)
			}
		})
	}
}

func TestParseKeyringRefusals(t *testing.T) {
	for _, s := range []string{
		"k1",                         // no colon
		"k1:zz",                      // not hex
		"k1:" + hexA[:62],            // 31 bytes
		"k1:" + hexA + ",k1:" + hexB, // duplicate id
		"bad id:" + hexA,             // space in id
		":" + hexA,                   // empty id
	} {
		k, err := ParseKeyring(s)
		if !errors.Is(err, ErrBadKey) {
			t.Errorf("ParseKeyring(%q) = %v, %v; want ErrBadKey", s, k, err)
		}
		if err != nil && strings.Contains(err.Error(), hexA) {
			t.Errorf("ParseKeyring error leaks the secret: %v", err)
		}
	}
}

func TestKeyringFromEnv(t *testing.T) {
	t.Setenv(EnvKey, "")
	if k, err := KeyringFromEnv(); k != nil || err != nil {
		t.Errorf("KeyringFromEnv(unset) = %v, %v; want nil, nil", k, err)
	}
	t.Setenv(EnvKey, "k7:"+hexA)
	k, err := KeyringFromEnv()
	if err != nil || k.SealKeyID() != "k7" {
		t.Errorf("KeyringFromEnv = %v, %v; want key k7", k, err)
	}
	t.Setenv(EnvKey, "k7:abc")
	if _, err := KeyringFromEnv(); err == nil || !strings.Contains(err.Error(), EnvKey) {
		t.Errorf("KeyringFromEnv(bad) = %v; want an error naming %s", err, EnvKey)
	}
}

func TestSealWithoutKey(t *testing.T) {
	var k *Keyring
	if _, err := k.Seal([]byte("x"), nil); !errors.Is(err, ErrBadKey) {
		t.Errorf("nil Keyring Seal = %v, want ErrBadKey", err)
	}
}
