package features

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"time"
)

// AppendValue appends the binary encoding online stores keep a value in: one kind byte,
// then 8 bytes little-endian for int and float, 1 for bool, the bytes of a string, or 4
// bytes per element of a vector.
func AppendValue(b []byte, v Value) []byte {
	b = append(b, byte(v.kind))
	switch v.kind {
	case KindInt, KindFloat:
		b = binary.LittleEndian.AppendUint64(b, v.num)
	case KindBool:
		b = append(b, byte(v.num))
	case KindString:
		b = append(b, v.str...)
	case KindVector:
		for _, x := range v.vec {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
		}
	}
	return b
}

// DecodeValue reads AppendValue's encoding from a string (what Redis clients return).
func DecodeValue(s string) (Value, error) {
	if len(s) == 0 {
		return Value{}, fmt.Errorf("decode value: empty")
	}
	k, p := Kind(s[0]), s[1:]
	switch k {
	case KindNull:
		return Value{}, nil
	case KindInt, KindFloat:
		if len(p) != 8 {
			return Value{}, fmt.Errorf("decode %s value: %d bytes", k, len(p))
		}
		return Value{kind: k, num: le64(p)}, nil
	case KindBool:
		if len(p) != 1 {
			return Value{}, fmt.Errorf("decode bool value: %d bytes", len(p))
		}
		return Value{kind: k, num: uint64(p[0] & 1)}, nil
	case KindString:
		return Value{kind: k, str: p}, nil
	case KindVector:
		if len(p)%4 != 0 {
			return Value{}, fmt.Errorf("decode vector value: %d bytes", len(p))
		}
		vec := make([]float32, len(p)/4)
		for i := range vec {
			q := p[4*i:]
			vec[i] = math.Float32frombits(uint32(q[0]) | uint32(q[1])<<8 | uint32(q[2])<<16 | uint32(q[3])<<24)
		}
		return Value{kind: k, vec: vec}, nil
	}
	return Value{}, fmt.Errorf("decode value: unknown kind %d", s[0])
}

func le64(p string) uint64 {
	_ = p[7]
	return uint64(p[0]) | uint64(p[1])<<8 | uint64(p[2])<<16 | uint64(p[3])<<24 |
		uint64(p[4])<<32 | uint64(p[5])<<40 | uint64(p[6])<<48 | uint64(p[7])<<56
}

// EncodeVersion renders a row's (Time, Seq) as a fixed-width string whose byte order is
// the row order, so a store can compare versions without parsing them.
func EncodeVersion(t time.Time, seq uint64) string {
	var b [41]byte
	s := strconv.AppendUint(b[:0], uint64(t.UnixNano()), 10)
	out := make([]byte, 0, 41)
	for i := len(s); i < 20; i++ {
		out = append(out, '0')
	}
	out = append(out, s...)
	out = append(out, ':')
	s = strconv.AppendUint(b[:0], seq, 10)
	for i := len(s); i < 20; i++ {
		out = append(out, '0')
	}
	return string(append(out, s...))
}

// DecodeVersion is the inverse of EncodeVersion.
func DecodeVersion(s string) (time.Time, uint64, error) {
	if len(s) != 41 || s[20] != ':' {
		return time.Time{}, 0, fmt.Errorf("decode version %q: malformed", s)
	}
	t, err := strconv.ParseUint(s[:20], 10, 64)
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("decode version %q: %w", s, err)
	}
	seq, err := strconv.ParseUint(s[21:], 10, 64)
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("decode version %q: %w", s, err)
	}
	return time.Unix(0, int64(t)).UTC(), seq, nil
}
