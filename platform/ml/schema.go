package ml

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// FeatureType is how a feature's float64 value is to be read.
type FeatureType string

// The feature types. A categorical value is an integer id (often a hash) carried in a
// float64; the factorization machine hashes it into an embedding bucket, the other
// families treat it as a number.
const (
	Float       FeatureType = "float"
	Int         FeatureType = "int"
	Bool        FeatureType = "bool"
	Categorical FeatureType = "categorical"
)

func (t FeatureType) valid() bool {
	switch t {
	case Float, Int, Bool, Categorical:
		return true
	}
	return false
}

// Feature is one named, typed column.
type Feature struct {
	Name string      `json:"name"`
	Type FeatureType `json:"type"`
}

// Schema is the ordered list of features a model reads. Order matters: a batch is
// row-major in this order. Its Hash is what the registry's gates and the serving feature
// service compare.
type Schema struct {
	Features []Feature `json:"features"`
}

// FloatSchema is a schema of float features with the given names.
func FloatSchema(names ...string) Schema {
	fs := make([]Feature, len(names))
	for i, n := range names {
		fs[i] = Feature{Name: n, Type: Float}
	}
	return Schema{Features: fs}
}

// Len is the number of features.
func (s Schema) Len() int { return len(s.Features) }

// Names returns the feature names in order.
func (s Schema) Names() []string {
	out := make([]string, len(s.Features))
	for i, f := range s.Features {
		out[i] = f.Name
	}
	return out
}

// Index returns the position of the named feature, or -1.
func (s Schema) Index(name string) int {
	for i, f := range s.Features {
		if f.Name == name {
			return i
		}
	}
	return -1
}

// Validate reports an empty schema, an empty or duplicate name, or an unknown type.
func (s Schema) Validate() error {
	if len(s.Features) == 0 {
		return fmt.Errorf("%w: no features", ErrInvalidSchema)
	}
	seen := make(map[string]bool, len(s.Features))
	for i, f := range s.Features {
		if f.Name == "" {
			return fmt.Errorf("%w: feature %d has no name", ErrInvalidSchema, i)
		}
		if seen[f.Name] {
			return fmt.Errorf("%w: duplicate feature %q", ErrInvalidSchema, f.Name)
		}
		seen[f.Name] = true
		if !f.Type.valid() {
			return fmt.Errorf("%w: feature %q has unknown type %q", ErrInvalidSchema, f.Name, f.Type)
		}
	}
	return nil
}

// Equal reports whether two schemas list the same features, with the same types, in the
// same order.
func (s Schema) Equal(o Schema) bool {
	if len(s.Features) != len(o.Features) {
		return false
	}
	for i := range s.Features {
		if s.Features[i] != o.Features[i] {
			return false
		}
	}
	return true
}

// Hash is the sha256 (hex) of the schema's canonical encoding: a version line, then one
// line per feature, "name\x00type\n", in order. Two schemas hash equal exactly when they
// are Equal.
func (s Schema) Hash() string {
	h := sha256.New()
	h.Write([]byte("casebook/feature-schema/v1\n"))
	for _, f := range s.Features {
		h.Write([]byte(f.Name))
		h.Write([]byte{0})
		h.Write([]byte(f.Type))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ShortHash is the first 12 hex digits of Hash, for messages.
func (s Schema) ShortHash() string { return s.Hash()[:12] }

// Diff describes the first difference between s (expected) and o (got), or "".
func (s Schema) Diff(o Schema) string {
	for i := 0; i < len(s.Features) && i < len(o.Features); i++ {
		if s.Features[i] != o.Features[i] {
			return fmt.Sprintf("feature %d is %s:%s, expected %s:%s", i, o.Features[i].Name, o.Features[i].Type, s.Features[i].Name, s.Features[i].Type)
		}
	}
	if len(s.Features) != len(o.Features) {
		return fmt.Sprintf("%d features, expected %d", len(o.Features), len(s.Features))
	}
	return ""
}

func checkSchema(want, got Schema) error {
	if want.Equal(got) {
		return nil
	}
	return &SchemaMismatchError{Want: want, Got: got, Detail: want.Diff(got)}
}
