package pii

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const (
	hex1 = "00112233445566778899aabbccddeeff"
	hex2 = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
)

func mustKey(t *testing.T, s string) Key {
	t.Helper()
	k, err := ParseKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestParseKeyRefusesBadKeys(t *testing.T) {
	for _, s := range []string{"", "nokey", "v0:" + hex1, "v255:" + hex1, "vx:" + hex1, "v1:zz", "v1:00112233", "1:" + hex1} {
		if _, err := ParseKey(s); !errors.Is(err, ErrKey) {
			t.Errorf("ParseKey(%q) error = %v, want ErrKey", s, err)
		}
	}
	if _, err := New(); !errors.Is(err, ErrKey) {
		t.Errorf("New() error = %v, want ErrKey", err)
	}
	if _, err := New(Key{Version: 1, Secret: []byte("short")}); !errors.Is(err, ErrKey) {
		t.Errorf("New(short) error = %v, want ErrKey", err)
	}
	if _, err := New(mustKey(t, "v1:"+hex1), mustKey(t, "v1:"+hex2)); !errors.Is(err, ErrKey) {
		t.Errorf("New(v1, v1) error = %v, want ErrKey", err)
	}
}

func TestTokensAreDeterministicKeyedAndSeparatedByField(t *testing.T) {
	a, _ := New(mustKey(t, "v1:"+hex1))
	a2, _ := New(mustKey(t, "v1:"+hex1))
	b, _ := New(mustKey(t, "v1:"+hex2))
	if a.Token("customer", "42") != a2.Token("customer", "42") || a.Int("customer", 42) != a2.Int("customer", 42) {
		t.Fatal("same key, field and value gave different tokens")
	}
	if a.Token("customer", "42") == b.Token("customer", "42") || a.Int("customer", 42) == b.Int("customer", 42) {
		t.Fatal("different keys gave the same token")
	}
	if a.Token("customer", "42") == a.Token("terminal", "42") || a.Int("customer", 42) == a.Int("terminal", 42) {
		t.Fatal("different fields gave the same token")
	}
	if a.Token("ab", "c") == a.Token("a", "bc") {
		t.Fatal("field/value boundary is ambiguous")
	}
	tok := a.Token("customer", "42")
	if strings.Contains(tok, "42") && !strings.HasPrefix(tok, "tk1_") {
		t.Errorf("Token = %q", tok)
	}
	if v, err := Version(tok); err != nil || v != 1 {
		t.Errorf("Version(%q) = %d, %v, want 1", tok, v, err)
	}
	seen := map[int64]bool{}
	for id := int64(0); id < 5000; id++ {
		x := a.Int("customer", id)
		if x <= 0 {
			t.Fatalf("Int(%d) = %d, want positive", id, x)
		}
		if v, err := IntVersion(x); err != nil || v != 1 {
			t.Fatalf("IntVersion(%d) = %d, %v, want 1", x, v, err)
		}
		if seen[x] {
			t.Fatalf("Int collision at id %d", id)
		}
		seen[x] = true
	}
	if _, err := Version("customer-42"); !errors.Is(err, ErrToken) {
		t.Errorf("Version(raw) error = %v, want ErrToken", err)
	}
	if _, err := IntVersion(42); !errors.Is(err, ErrToken) {
		t.Errorf("IntVersion(42) error = %v, want ErrToken", err)
	}
}

func TestRotation(t *testing.T) {
	old, _ := New(mustKey(t, "v1:"+hex1))
	both, _ := New(mustKey(t, "v1:"+hex1), mustKey(t, "v2:"+hex2))
	if both.Current() != 2 {
		t.Fatalf("Current = %d, want 2", both.Current())
	}
	oldTok, newTok := old.Token("customer", "42"), both.Token("customer", "42")
	if oldTok == newTok {
		t.Fatal("rotation did not change the token")
	}
	if v, _ := Version(newTok); v != 2 {
		t.Errorf("Version(new) = %d, want 2", v)
	}
	// A lookup during the migration accepts both.
	c := both.Candidates("customer", "42")
	if len(c) != 2 || c[0] != newTok || c[1] != oldTok {
		t.Errorf("Candidates = %v, want [%s %s]", c, newTok, oldTok)
	}
	ic := both.IntCandidates("customer", 42)
	if len(ic) != 2 || ic[0] != both.Int("customer", 42) || ic[1] != old.Int("customer", 42) {
		t.Errorf("IntCandidates = %v", ic)
	}
	// The migration table maps every old token to the new one.
	m, err := both.Retokenize(1, "customer", []string{"42", "43"})
	if err != nil {
		t.Fatal(err)
	}
	if m[oldTok] != newTok || m[old.Token("customer", "43")] != both.Token("customer", "43") || len(m) != 2 {
		t.Errorf("Retokenize = %v", m)
	}
	mi, err := both.RetokenizeInts(1, "customer", []int64{42})
	if err != nil || mi[old.Int("customer", 42)] != both.Int("customer", 42) {
		t.Errorf("RetokenizeInts = %v, %v", mi, err)
	}
	if _, err := both.Retokenize(3, "customer", []string{"42"}); !errors.Is(err, ErrKey) {
		t.Errorf("Retokenize(v3) error = %v, want ErrKey", err)
	}
}

func TestFromEnv(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	if tk, err := FromEnv(getenv); tk != nil || err != nil {
		t.Fatalf("FromEnv(empty) = %v, %v, want nil, nil (no default key)", tk, err)
	}
	env[EnvKey] = "v3:" + hex1
	tk, err := FromEnv(getenv)
	if err != nil || tk.Current() != 3 {
		t.Fatalf("FromEnv(key) = %v, %v", tk, err)
	}
	env[EnvKey] = "v3:0011"
	if _, err := FromEnv(getenv); !errors.Is(err, ErrKey) {
		t.Errorf("FromEnv(short key) error = %v, want ErrKey", err)
	}
	path := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(path, []byte("# rotated 2026-12\nv1:"+hex1+"\n\nv2:"+hex2+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env[EnvKeyFile] = path
	tk, err = FromEnv(getenv)
	if err != nil || tk.Current() != 2 || len(tk.Versions()) != 2 {
		t.Fatalf("FromEnv(file) = %v, %v", tk, err)
	}
	if err := os.WriteFile(path, []byte("v1:"+hex1+"\nv2:beef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := FromEnv(getenv); !errors.Is(err, ErrKey) || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("FromEnv(bad file) error = %v, want ErrKey at line 2", err)
	}
	if strings.Contains(tk.Policy("customer"), hex2) {
		t.Error("Policy names the key")
	}
}

func TestEphemeral(t *testing.T) {
	a, err := NewEphemeral()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewEphemeral()
	d := Demo()
	if d.Current() != DemoVersion || d.Token("customer", "1") != Demo().Token("customer", "1") || !strings.HasPrefix(d.Token("customer", "1"), "tk255_") {
		t.Errorf("Demo tokens = %q, want stable tk255_ tokens", d.Token("customer", "1"))
	}
	if v, _ := IntVersion(d.Int("customer", 1)); v != DemoVersion {
		t.Errorf("IntVersion(demo token) = %d, want %d", v, DemoVersion)
	}
	if _, err := ParseKey("v255:" + hex1); !errors.Is(err, ErrKey) {
		t.Errorf("ParseKey(v255) = %v, want ErrKey: the version is the demo key's", err)
	}
	if !a.Ephemeral || a.Token("customer", "1") == b.Token("customer", "1") {
		t.Error("two ephemeral tokenizers share a key")
	}
}

// Int53 tokens are exact as float64, carry the key version, are deterministic, keyed and
// separated by field.
func TestInt53(t *testing.T) {
	a, err := New(Key{Version: 7, Secret: []byte("0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Key{Version: 7, Secret: []byte("fedcba9876543210")})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	for id := int64(0); id < 2000; id++ {
		tk := a.Int53("user", id)
		if tk <= 0 || tk >= 1<<53 || int64(float64(tk)) != tk {
			t.Fatalf("Int53(%d) = %d, not a positive integer exact as float64", id, tk)
		}
		if v, err := Int53Version(tk); err != nil || v != 7 {
			t.Fatalf("Int53Version(%d) = %d, %v, want 7", tk, v, err)
		}
		if tk != a.Int53("user", id) || tk == b.Int53("user", id) || tk == a.Int53("customer", id) {
			t.Fatalf("Int53(%d): not deterministic, or the same under another key or field", id)
		}
		if seen[tk] {
			t.Fatalf("Int53(%d) = %d collides within 2,000 ids", id, tk)
		}
		seen[tk] = true
	}
	if _, err := Int53Version(1 << 60); !errors.Is(err, ErrToken) {
		t.Errorf("Int53Version(1<<60) = %v, want ErrToken", err)
	}
}

func BenchmarkInt53(b *testing.B) {
	tok, err := NewEphemeral()
	if err != nil {
		b.Fatal(err)
	}
	var s int64
	for i := 0; b.Loop(); i++ {
		s += tok.Int53("user", int64(i))
	}
	_ = s
}

func BenchmarkToken(b *testing.B) {
	tok, err := NewEphemeral()
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, 1024)
	for i := range ids {
		ids[i] = "u" + strconv.Itoa(i)
	}
	n := 0
	for i := 0; b.Loop(); i++ {
		n += len(tok.Token("user", ids[i%len(ids)]))
	}
	_ = n
}

// TestForRun: the environment's key wins everywhere; without one the local default gets the
// fallback's key and a run on shared engines ErrNoKey; a bad key is ErrKey either way.
func TestForRun(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	if tok, err := ForRun(getenv, true, NewEphemeral); err != nil || !tok.Ephemeral {
		t.Errorf("ForRun(no key, local) = %+v, %v; want the fallback's ephemeral key", tok, err)
	}
	if _, err := ForRun(getenv, false, NewEphemeral); !errors.Is(err, ErrNoKey) {
		t.Errorf("ForRun(no key, shared engines) = %v, want ErrNoKey", err)
	}
	env[EnvKey] = "v3:00112233445566778899aabbccddeeff"
	for _, local := range []bool{true, false} {
		if tok, err := ForRun(getenv, local, NewEphemeral); err != nil || tok.Ephemeral || tok.Current() != 3 {
			t.Errorf("ForRun(key v3, local=%v) = %+v, %v; want key v3", local, tok, err)
		}
	}
	env[EnvKey] = "v3:0011"
	if _, err := ForRun(getenv, true, NewEphemeral); !errors.Is(err, ErrKey) {
		t.Errorf("ForRun(short key) = %v, want ErrKey", err)
	}
}
