package features

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// Kind is the type of a feature value.
type Kind uint8

// The value kinds a feature may declare. KindNull is the kind of an absent value (an empty
// window's mean, a feature a row does not carry); no feature declares it.
const (
	KindNull Kind = iota
	KindInt
	KindFloat
	KindString
	KindBool
	KindVector // a float32 embedding of fixed dimension
)

var kindNames = [...]string{"null", "int", "float", "string", "bool", "vector"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// ParseKind is the inverse of Kind.String.
func ParseKind(s string) (Kind, error) {
	for i, n := range kindNames {
		if n == s && i != int(KindNull) {
			return Kind(i), nil
		}
	}
	return KindNull, fmt.Errorf("%w: unknown kind %q (want int, float, string, bool or vector)", ErrInvalidDefinition, s)
}

// Value is one feature value. The zero Value is null. Values are small and passed by value;
// a vector shares its backing array, which callers must not modify after handing it over.
type Value struct {
	kind Kind
	num  uint64 // int64, float64 bits or bool
	str  string
	vec  []float32
}

// Null is the absent value.
func Null() Value { return Value{} }

// Int makes an int value.
func Int(v int64) Value { return Value{kind: KindInt, num: uint64(v)} }

// Float makes a float value. NaN and ±Inf are representable here and rejected on write.
func Float(v float64) Value { return Value{kind: KindFloat, num: math.Float64bits(v)} }

// String makes a string value.
func String(v string) Value { return Value{kind: KindString, str: v} }

// Bool makes a bool value.
func Bool(v bool) Value {
	if v {
		return Value{kind: KindBool, num: 1}
	}
	return Value{kind: KindBool}
}

// Vector makes an embedding value. The slice is not copied.
func Vector(v []float32) Value { return Value{kind: KindVector, vec: v} }

// Kind says which accessor applies.
func (v Value) Kind() Kind { return v.kind }

// IsNull reports whether the value is absent.
func (v Value) IsNull() bool { return v.kind == KindNull }

// Int returns an int value (0 for other kinds).
func (v Value) Int() int64 {
	if v.kind != KindInt {
		return 0
	}
	return int64(v.num)
}

// Float returns a float value; an int converts, other kinds give 0.
func (v Value) Float() float64 {
	switch v.kind {
	case KindFloat:
		return math.Float64frombits(v.num)
	case KindInt:
		return float64(int64(v.num))
	case KindBool:
		return float64(v.num)
	}
	return 0
}

// Str returns a string value ("" for other kinds).
func (v Value) Str() string { return v.str }

// Bool returns a bool value (false for other kinds).
func (v Value) Bool() bool { return v.kind == KindBool && v.num == 1 }

// Vector returns an embedding (nil for other kinds). Do not modify it.
func (v Value) Vector() []float32 { return v.vec }

// Equal reports whether two values are identical, bit for bit for floats.
func (v Value) Equal(o Value) bool {
	if v.kind != o.kind || v.num != o.num || v.str != o.str || len(v.vec) != len(o.vec) {
		return false
	}
	for i := range v.vec {
		if math.Float32bits(v.vec[i]) != math.Float32bits(o.vec[i]) {
			return false
		}
	}
	return true
}

func (v Value) String() string {
	switch v.kind {
	case KindInt:
		return strconv.FormatInt(v.Int(), 10)
	case KindFloat:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	case KindString:
		return strconv.Quote(v.str)
	case KindBool:
		return strconv.FormatBool(v.Bool())
	case KindVector:
		if len(v.vec) > 4 {
			return fmt.Sprintf("%v…(%d)", v.vec[:4], len(v.vec))
		}
		return fmt.Sprint(v.vec)
	}
	return "null"
}

// check says why a value cannot be stored under a feature, or nil.
func (v Value) check(f Feature) error {
	if v.kind == KindNull {
		return nil
	}
	if v.kind != f.Kind {
		return fmt.Errorf("%w: feature %q is %s, got %s %s", ErrWrongType, f.Name, f.Kind, v.kind, v)
	}
	switch v.kind {
	case KindFloat:
		if x := v.Float(); math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("%w: feature %q is %v", ErrInvalidValue, f.Name, x)
		}
	case KindVector:
		if f.Dim > 0 && len(v.vec) != f.Dim {
			return fmt.Errorf("%w: feature %q wants a vector of %d, got %d", ErrInvalidValue, f.Name, f.Dim, len(v.vec))
		}
		for i, x := range v.vec {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return fmt.Errorf("%w: feature %q element %d is %v", ErrInvalidValue, f.Name, i, x)
			}
		}
	}
	return nil
}

// Status says whether a value read back can be used.
type Status uint8

// Statuses of a read feature value.
const (
	// Missing: no value was ever written for this entity, or the value is null (an empty
	// window's mean).
	Missing Status = iota
	// Present: the value is at most TTL old at the read time.
	Present
	// Stale: a value exists but is older than the view's TTL; it is not returned.
	Stale
)

func (s Status) String() string {
	switch s {
	case Present:
		return "PRESENT"
	case Stale:
		return "STALE"
	}
	return "MISSING"
}

// FeatureValue is one feature of one entity as read: the value only when Present, its
// status, and the event time of the row it came from (zero when Missing without a row).
type FeatureValue struct {
	Value  Value
	Status Status
	Time   time.Time
}

// Age is how old the value was at time at.
func (f FeatureValue) Age(at time.Time) time.Duration {
	if f.Time.IsZero() {
		return 0
	}
	return at.Sub(f.Time)
}

// Resolve applies the TTL rule every online store and the point-in-time join share: a row
// with event time t, read at time at, is Present while its age at-t is at most ttl and Stale
// once the age exceeds ttl (an age of exactly ttl is still Present). A ttl of 0 means values
// never expire. A null value in a live row is Missing. The online store serves the newest
// row it has even if its time is after at; the point-in-time join never offers it one.
func Resolve(v Value, t, at time.Time, ttl time.Duration) FeatureValue {
	if t.IsZero() {
		return FeatureValue{}
	}
	if ttl > 0 && at.Sub(t) > ttl {
		return FeatureValue{Status: Stale, Time: t}
	}
	if v.IsNull() {
		return FeatureValue{Status: Missing, Time: t}
	}
	return FeatureValue{Value: v, Status: Present, Time: t}
}

// MarshalText writes the kind's name, so specs read well as JSON.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads a kind's name.
func (k *Kind) UnmarshalText(b []byte) error {
	v, err := ParseKind(string(b))
	*k = v
	return err
}
