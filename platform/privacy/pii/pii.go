// Package pii replaces identifiers of people (customer, card and user ids) by keyed-hash
// tokens before they reach the event log, the feature stores, the prediction log or a log
// line. A token is HMAC-SHA256(key, field ‖ value): deterministic for a key, a field and a
// value, so joins and lookups work on tokens, and useless without the key (an attacker cannot
// hash every plausible id and compare, as with a plain hash).
//
// Keys are versioned and the version travels in every token, so a rotation is visible: tokens
// minted under the old key stay joinable with each other until the data is re-tokenized from
// its source, and Candidates lets a lookup accept both versions meanwhile.
package pii

import (
	"bufio"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
)

// Environment variables a binary reads its key(s) from (only main reads them: see FromEnv).
const (
	// EnvKey holds one key, "vN:<hex>", e.g. CASEBOOK_PII_KEY=v2:3f1c….
	EnvKey = "CASEBOOK_PII_KEY"
	// EnvKeyFile names a file with one "vN:<hex>" key per line; the highest version is
	// current, the others still answer Candidates and Retokenize. Blank lines and lines
	// starting with # are skipped.
	EnvKeyFile = "CASEBOOK_PII_KEY_FILE"
)

// MinKeyBytes is the shortest key accepted: 128 bits, so that guessing the key is out of
// reach even though the ids it protects (a few million customer numbers) can be enumerated.
const MinKeyBytes = 16

// MaxVersion is the largest key version: the integer token keeps it in 8 bits.
const MaxVersion = 255

// DemoVersion is the version of the demo key, reserved: a key file may not use it, so a
// token minted under the demo key says so ("tk255_…", an integer token ≥ 255<<55).
const DemoVersion = MaxVersion

// demoSecret is published in this source file, so it protects nothing: it exists so that the
// local default (`make demo`, a load generator and the system it drives, two processes) needs
// no setup and still agrees on tokens. Demo says when to use it. (It spells "Casebook demo
// key -- not a secret".)
const demoSecret = "43617365626f6f6b2064656d6f206b6579202d2d206e6f74206120736563726574"

// ErrKey reports a missing, malformed or too short key.
var ErrKey = errors.New("pii key")

// ErrToken reports a value that is not a token of this package.
var ErrToken = errors.New("pii token")

// Key is one versioned HMAC key.
type Key struct {
	Version int
	Secret  []byte
}

// ParseKey reads "vN:<hex>".
func ParseKey(s string) (Key, error) {
	s = strings.TrimSpace(s)
	ver, hx, ok := strings.Cut(s, ":")
	if !ok || !strings.HasPrefix(ver, "v") {
		return Key{}, fmt.Errorf("%w: want \"vN:<hex>\", got %d characters without that shape", ErrKey, len(s))
	}
	n, err := strconv.Atoi(ver[1:])
	if err != nil || n < 1 || n >= DemoVersion {
		return Key{}, fmt.Errorf("%w: version %q must be v1..v%d (v%d is the demo key's)", ErrKey, ver, DemoVersion-1, DemoVersion)
	}
	secret, err := hex.DecodeString(hx)
	if err != nil {
		return Key{}, fmt.Errorf("%w: %s: secret is not hex", ErrKey, ver)
	}
	if len(secret) < MinKeyBytes {
		return Key{}, fmt.Errorf("%w: %s: secret is %d bytes, need at least %d", ErrKey, ver, len(secret), MinKeyBytes)
	}
	return Key{Version: n, Secret: secret}, nil
}

// Tokenizer mints tokens under its current (highest-version) key. Safe for concurrent use:
// it holds no mutable state.
type Tokenizer struct {
	keys    map[int][]byte
	current int
	// Ephemeral is true when the key was generated for this process (NewEphemeral).
	Ephemeral bool
	// IsDemo is true for the published demo key (Demo).
	IsDemo bool
}

// Demo is the tokenizer over the published demo key (version DemoVersion), for local runs
// of synthetic data across processes: tokens are stable and agree between processes, and
// anyone with this source can recompute them. A binary uses it only when no key is
// configured and it runs on the local default (embedded NATS, memory store), and says so.
func Demo() *Tokenizer {
	secret, _ := hex.DecodeString(demoSecret)
	return &Tokenizer{keys: map[int][]byte{DemoVersion: secret}, current: DemoVersion, IsDemo: true}
}

// New builds a tokenizer over keys; the highest version is current. Versions must be unique.
func New(keys ...Key) (*Tokenizer, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no key", ErrKey)
	}
	t := &Tokenizer{keys: map[int][]byte{}}
	for _, k := range keys {
		if k.Version < 1 || k.Version >= DemoVersion {
			return nil, fmt.Errorf("%w: version %d must be 1..%d", ErrKey, k.Version, DemoVersion-1)
		}
		if len(k.Secret) < MinKeyBytes {
			return nil, fmt.Errorf("%w: v%d: secret is %d bytes, need at least %d", ErrKey, k.Version, len(k.Secret), MinKeyBytes)
		}
		if _, dup := t.keys[k.Version]; dup {
			return nil, fmt.Errorf("%w: v%d given twice", ErrKey, k.Version)
		}
		t.keys[k.Version] = append([]byte(nil), k.Secret...)
		t.current = max(t.current, k.Version)
	}
	return t, nil
}

// NewEphemeral builds a tokenizer over a random 256-bit key made for this process (version
// 1): the local default, which needs no setup. Its tokens do not survive a restart, so
// anything persisted under them (an offline store, a registry) cannot be joined with data
// tokenized by another process; the caller should say so in a log line.
func NewEphemeral() (*Tokenizer, error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("%w: random key: %w", ErrKey, err)
	}
	t, err := New(Key{Version: 1, Secret: secret})
	if err != nil {
		return nil, err
	}
	t.Ephemeral = true
	return t, nil
}

// ParseKeys reads one "vN:<hex>" key per line (blank lines and # comments skipped).
func ParseKeys(r io.Reader) ([]Key, error) {
	var keys []Key
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		k, err := ParseKey(s)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		keys = append(keys, k)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	return keys, nil
}

// FromEnv builds a tokenizer from getenv(EnvKeyFile) (a file of keys) or getenv(EnvKey) (one
// key). With neither set it returns (nil, nil): the caller decides between an ephemeral key
// (local runs) and refusing to start (production). There is no built-in default key.
func FromEnv(getenv func(string) string) (*Tokenizer, error) {
	if path := getenv(EnvKeyFile); path != "" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrKey, EnvKeyFile, err)
		}
		defer f.Close()
		keys, err := ParseKeys(f)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", EnvKeyFile, path, err)
		}
		return New(keys...)
	}
	if s := getenv(EnvKey); s != "" {
		k, err := ParseKey(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvKey, err)
		}
		return New(k)
	}
	return nil, nil
}

// ErrNoKey is a run on shared engines (real NATS, Redis) with no key in the environment:
// what it would tokenize outlives the process, so an ephemeral key would strand it.
var ErrNoKey = errors.New("no pii key")

// ForRun is the tokenizer of a binary's run: the environment's keys when set (FromEnv);
// otherwise, on the local default (local: embedded event log, memory store), fallback's
// key (NewEphemeral for a process that tokenizes and reads back alone, Demo where two
// local processes must agree); off the local default, ErrNoKey naming the variables to set.
func ForRun(getenv func(string) string, local bool, fallback func() (*Tokenizer, error)) (*Tokenizer, error) {
	tok, err := FromEnv(getenv)
	switch {
	case err != nil:
		return nil, err
	case tok != nil:
		return tok, nil
	case local:
		return fallback()
	}
	return nil, fmt.Errorf("%w: a run on NATS or Redis servers needs one: set %s=v1:<32+ hex digits> or %s=FILE", ErrNoKey, EnvKey, EnvKeyFile)
}

// Current is the version new tokens are minted under.
func (t *Tokenizer) Current() int { return t.current }

// Versions lists the key versions held, oldest first.
func (t *Tokenizer) Versions() []int {
	vs := make([]int, 0, len(t.keys))
	for v := range t.keys {
		vs = append(vs, v)
	}
	sort.Ints(vs)
	return vs
}

func (t *Tokenizer) mac(version int, field, value string) ([]byte, error) {
	key, ok := t.keys[version]
	if !ok {
		return nil, fmt.Errorf("%w: no key v%d", ErrKey, version)
	}
	h := hmac.New(sha256.New, key)
	// The field separates domains (customer 7 and terminal 7 get unrelated tokens); its
	// length prefix keeps ("ab","c") and ("a","bc") apart.
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(field)))
	h.Write(n[:])
	h.Write([]byte(field))
	h.Write([]byte(value))
	return h.Sum(nil), nil
}

// Token returns the string token of value in field under the current key:
// "tk<version>_<32 hex digits>" (128 bits of the HMAC).
func (t *Tokenizer) Token(field, value string) string {
	s, _ := t.tokenAt(t.current, field, value)
	return s
}

func (t *Tokenizer) tokenAt(version int, field, value string) (string, error) {
	m, err := t.mac(version, field, value)
	if err != nil {
		return "", err
	}
	return "tk" + strconv.Itoa(version) + "_" + hex.EncodeToString(m[:16]), nil
}

// Int returns the integer token of id in field under the current key, for identifiers whose
// type is an integer throughout a system (the fraud simulator's customer ids): a positive
// int64 whose top 8 of 63 bits hold the key version and whose low 55 bits are the HMAC.
// With 55 bits, n distinct ids collide with probability about n²/2⁵⁶: 3.5e-10 for the
// simulator's 5,000 customers, 1.4e-5 for a million, 0.14 for a hundred million (use the
// string Token there).
func (t *Tokenizer) Int(field string, id int64) int64 {
	v, _ := t.intAt(t.current, field, id)
	return v
}

const intHashBits = 55

func (t *Tokenizer) intAt(version int, field string, id int64) (int64, error) {
	m, err := t.mac(version, field, strconv.FormatInt(id, 10))
	if err != nil {
		return 0, err
	}
	h := binary.BigEndian.Uint64(m[:8]) & (1<<intHashBits - 1)
	return int64(uint64(version)<<intHashBits | h), nil
}

// Int53 returns the integer token of id in field under the current key for systems that
// carry ids through float64 (a model schema, a JSON number, a feature value): a positive
// int64 below 2⁵³, exact as a float64, whose top 8 of 53 bits hold the key version and whose
// low 45 bits are the HMAC. With 45 bits, n distinct ids collide with probability about
// n²/2⁴⁶: 1.3e-8 for 1,000 users, 3.6e-5 for 50,000, 0.014 for a million (use Int or the
// string Token there).
func (t *Tokenizer) Int53(field string, id int64) int64 {
	m, _ := t.mac(t.current, field, strconv.FormatInt(id, 10))
	h := binary.BigEndian.Uint64(m[:8]) & (1<<int53HashBits - 1)
	return int64(uint64(t.current)<<int53HashBits | h)
}

const int53HashBits = 45

// Int53Version returns the key version an Int53 token was minted under.
func Int53Version(token int64) (int, error) {
	if token <= 0 || token >= 1<<53 {
		return 0, fmt.Errorf("%w: %d is not a 53-bit integer token", ErrToken, token)
	}
	v := int(token >> int53HashBits)
	if v < 1 {
		return 0, fmt.Errorf("%w: %d carries no key version", ErrToken, token)
	}
	return v, nil
}

// IntVersion returns the key version an integer token was minted under.
func IntVersion(token int64) (int, error) {
	if token <= 0 {
		return 0, fmt.Errorf("%w: %d is not an integer token", ErrToken, token)
	}
	v := int(token >> intHashBits)
	if v < 1 || v > MaxVersion {
		return 0, fmt.Errorf("%w: %d carries no key version", ErrToken, token)
	}
	return v, nil
}

// Version returns the key version a string token was minted under.
func Version(token string) (int, error) {
	rest, ok := strings.CutPrefix(token, "tk")
	ver, hx, ok2 := strings.Cut(rest, "_")
	n, err := strconv.Atoi(ver)
	if !ok || !ok2 || err != nil || n < 1 || n > MaxVersion || len(hx) != 32 {
		return 0, fmt.Errorf("%w: %q is not a token", ErrToken, token)
	}
	return n, nil
}

// Candidates returns the tokens of value in field under every key held, current first: what
// a lookup accepts while data tokenized under an older key has not been migrated yet.
func (t *Tokenizer) Candidates(field, value string) []string {
	out := []string{t.Token(field, value)}
	vs := t.Versions()
	for i := len(vs) - 1; i >= 0; i-- {
		if vs[i] == t.current {
			continue
		}
		s, _ := t.tokenAt(vs[i], field, value)
		out = append(out, s)
	}
	return out
}

// IntCandidates is Candidates for integer tokens.
func (t *Tokenizer) IntCandidates(field string, id int64) []int64 {
	out := []int64{t.Int(field, id)}
	vs := t.Versions()
	for i := len(vs) - 1; i >= 0; i-- {
		if vs[i] == t.current {
			continue
		}
		v, _ := t.intAt(vs[i], field, id)
		out = append(out, v)
	}
	return out
}

// Retokenize maps the tokens of raw values under key version from to their tokens under the
// current key: the table a migration applies to stored data (entity keys of an offline
// store, an online store's keys). An HMAC cannot be inverted, so a migration needs the raw
// values from the system of record; the table lets it rewrite tokenized stores without
// reading raw ids again.
func (t *Tokenizer) Retokenize(from int, field string, values []string) (map[string]string, error) {
	out := make(map[string]string, len(values))
	for _, v := range values {
		old, err := t.tokenAt(from, field, v)
		if err != nil {
			return nil, err
		}
		out[old] = t.Token(field, v)
	}
	return out, nil
}

// RetokenizeInts is Retokenize for integer tokens.
func (t *Tokenizer) RetokenizeInts(from int, field string, ids []int64) (map[int64]int64, error) {
	out := make(map[int64]int64, len(ids))
	for _, id := range ids {
		old, err := t.intAt(from, field, id)
		if err != nil {
			return nil, err
		}
		out[old] = t.Int(field, id)
	}
	return out, nil
}

// Policy describes the tokenizer for a model card's Privacy.PIIPolicy, naming fields and the
// key version, never a key.
func (t *Tokenizer) Policy(fields ...string) string {
	s := fmt.Sprintf("%s replaced at ingestion by HMAC-SHA256 tokens, key v%d", strings.Join(fields, ", "), t.current)
	switch {
	case t.Ephemeral:
		s += " (ephemeral key of one process)"
	case t.IsDemo:
		s += " (the published demo key: pseudonyms, not protection)"
	}
	return s
}
