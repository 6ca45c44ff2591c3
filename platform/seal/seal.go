package seal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// EnvKey is the environment variable KeyringFromEnv reads:
// "k2:<64 hex digits>,k1:<64 hex digits>", the first key seals, every key opens.
const EnvKey = "CASEBOOK_DATA_KEY"

var (
	// ErrNotSealed: the bytes do not start with the envelope's magic.
	ErrNotSealed = errors.New("not sealed")
	// ErrUnknownKey: the envelope names a key id the keyring does not hold.
	ErrUnknownKey = errors.New("unknown key")
	// ErrAuth: GCM authentication failed: a wrong key under a known id, tampered bytes, or
	// associated data that does not match (the envelope was moved to another object).
	ErrAuth = errors.New("authentication failed")
	// ErrTruncated: the envelope is shorter than its header says.
	ErrTruncated = errors.New("truncated")
	// ErrVersion: an envelope format this code does not know.
	ErrVersion = errors.New("unknown envelope format version")
	// ErrBadKey: a key or key id that cannot be used.
	ErrBadKey = errors.New("bad key")
)

// Envelope layout (all of it bound into the GCM tag as associated data, together with the
// caller's aad):
//
//	magic "CBSEAL" | format version (1 byte) | key id length (1 byte) | key id | nonce (12 bytes) | ciphertext + 16-byte tag
var magic = []byte("CBSEAL")

const (
	formatV1  = 1
	nonceSize = 12
	tagSize   = 16
	// KeySize is the AES-256 key length in bytes.
	KeySize = 32
)

var keyIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

type key struct {
	id   string
	aead cipher.AEAD
}

// Keyring holds data keys by id. The first key added seals; all of them open, so a key can
// be rotated by putting the new one first and keeping the old one until every object is
// resealed. A nil *Keyring is valid and holds no keys.
type Keyring struct {
	keys []key
}

// NewKeyring returns an empty keyring.
func NewKeyring() *Keyring { return &Keyring{} }

// Add adds a 32-byte key under id; the first key added is the sealing key.
func (k *Keyring) Add(id string, secret []byte) error {
	if !keyIDRE.MatchString(id) {
		return fmt.Errorf("%w: key id %q must be 1-64 of [A-Za-z0-9._-]", ErrBadKey, id)
	}
	if len(secret) != KeySize {
		return fmt.Errorf("%w: key %s is %d bytes, want %d (AES-256)", ErrBadKey, id, len(secret), KeySize)
	}
	for _, e := range k.keys {
		if e.id == id {
			return fmt.Errorf("%w: key id %s given twice", ErrBadKey, id)
		}
	}
	block, err := aes.NewCipher(secret)
	if err != nil {
		return fmt.Errorf("%w: key %s: %v", ErrBadKey, id, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return fmt.Errorf("%w: key %s: %v", ErrBadKey, id, err)
	}
	k.keys = append(k.keys, key{id: id, aead: aead})
	return nil
}

// ParseKeyring reads "id:hex[,id:hex...]"; the first entry seals.
func ParseKeyring(s string) (*Keyring, error) {
	k := NewKeyring()
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		id, hx, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Errorf("%w: want id:<64 hex digits>, got an entry without ':'", ErrBadKey)
		}
		secret, err := hex.DecodeString(hx)
		if err != nil {
			return nil, fmt.Errorf("%w: key %s is not hex", ErrBadKey, id)
		}
		if err := k.Add(id, secret); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// KeyringFromEnv builds the keyring from CASEBOOK_DATA_KEY; nil (no encryption) when the
// variable is unset or empty. The secret never appears in an error.
func KeyringFromEnv() (*Keyring, error) {
	s := os.Getenv(EnvKey)
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	k, err := ParseKeyring(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvKey, err)
	}
	return k, nil
}

// Enabled reports whether the keyring can seal.
func (k *Keyring) Enabled() bool { return k != nil && len(k.keys) > 0 }

// SealKeyID is the id of the key Seal uses ("" for an empty keyring).
func (k *Keyring) SealKeyID() string {
	if !k.Enabled() {
		return ""
	}
	return k.keys[0].id
}

// IDs lists the key ids, sealing key first.
func (k *Keyring) IDs() []string {
	if k == nil {
		return nil
	}
	ids := make([]string, len(k.keys))
	for i, e := range k.keys {
		ids[i] = e.id
	}
	return ids
}

func (k *Keyring) lookup(id string) (cipher.AEAD, bool) {
	if k == nil {
		return nil, false
	}
	for _, e := range k.keys {
		if e.id == id {
			return e.aead, true
		}
	}
	return nil, false
}

// Seal encrypts plaintext with the sealing key. aad is authenticated but not stored: Open
// must be given the same aad, so binding an object's name (an artifact's sha256, a file's
// path) makes a sealed object moved under another name fail to open.
func (k *Keyring) Seal(plaintext, aad []byte) ([]byte, error) {
	if !k.Enabled() {
		return nil, fmt.Errorf("seal: %w: the keyring is empty (set %s)", ErrBadKey, EnvKey)
	}
	e := k.keys[0]
	hdr := make([]byte, 0, len(magic)+2+len(e.id)+nonceSize)
	hdr = append(hdr, magic...)
	hdr = append(hdr, formatV1, byte(len(e.id)))
	hdr = append(hdr, e.id...)
	nonce := make([]byte, nonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal: nonce: %w", err)
	}
	hdr = append(hdr, nonce...)
	out := make([]byte, len(hdr), len(hdr)+len(plaintext)+tagSize)
	copy(out, hdr)
	return e.aead.Seal(out, nonce, plaintext, associated(hdr, aad)), nil
}

// Header is what an envelope says about itself before it is opened.
type Header struct {
	Version int
	KeyID   string
	size    int // header length in bytes
}

// IsSealed reports whether data starts with the envelope magic.
func IsSealed(data []byte) bool { return bytes.HasPrefix(data, magic) }

// ParseHeader reads an envelope's header without a key.
func ParseHeader(data []byte) (Header, error) {
	if !IsSealed(data) {
		if len(data) < len(magic) && bytes.HasPrefix(magic, data) && len(data) > 0 {
			return Header{}, fmt.Errorf("open: %w: %d bytes, shorter than the envelope header", ErrTruncated, len(data))
		}
		return Header{}, fmt.Errorf("open: %w: no envelope header", ErrNotSealed)
	}
	p := len(magic)
	if len(data) < p+2 {
		return Header{}, fmt.Errorf("open: %w: %d bytes, shorter than the envelope header", ErrTruncated, len(data))
	}
	if data[p] != formatV1 {
		return Header{}, fmt.Errorf("open: %w %d", ErrVersion, data[p])
	}
	idLen := int(data[p+1])
	p += 2
	if len(data) < p+idLen+nonceSize+tagSize {
		return Header{}, fmt.Errorf("open: %w: %d bytes, shorter than header, nonce and tag", ErrTruncated, len(data))
	}
	return Header{Version: formatV1, KeyID: string(data[p : p+idLen]), size: p + idLen + nonceSize}, nil
}

// Open checks and decrypts an envelope made by Seal with the same aad. It never returns
// plaintext that did not authenticate.
func (k *Keyring) Open(data, aad []byte) ([]byte, error) {
	h, err := ParseHeader(data)
	if err != nil {
		return nil, err
	}
	aead, ok := k.lookup(h.KeyID)
	if !ok {
		have := "no keyring: set " + EnvKey
		if ids := k.IDs(); len(ids) > 0 {
			have = "it holds " + strings.Join(ids, ", ")
		}
		return nil, fmt.Errorf("open: %w: sealed with key %s, which this process does not have (%s)", ErrUnknownKey, h.KeyID, have)
	}
	hdr := data[:h.size]
	nonce := hdr[h.size-nonceSize:]
	pt, err := aead.Open(nil, nonce, data[h.size:], associated(hdr, aad))
	if err != nil {
		return nil, fmt.Errorf("open: %w: key %s does not authenticate these bytes (a wrong key under that id, tampered or truncated bytes, or an object moved from another name)", ErrAuth, h.KeyID)
	}
	return pt, nil
}

func associated(hdr, aad []byte) []byte {
	a := make([]byte, 0, len(hdr)+len(aad))
	return append(append(a, hdr...), aad...)
}
