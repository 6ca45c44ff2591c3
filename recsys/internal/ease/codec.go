package ease

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
)

// The artifact, little-endian throughout:
//
//	magic "CBEASE\x00\x00" | version uint32 | n uint32 | lambda float64 |
//	n item ids int64, ascending | n×n weights float32, row-major | CRC-32C of all before
//
// Bump artifactVersion whenever the layout changes; UnmarshalBinary reads only its own.
const (
	artifactMagic   = "CBEASE\x00\x00"
	artifactVersion = 1
	headerLen       = len(artifactMagic) + 4 + 4 + 8
	// maxArtifactItems keeps n×n×4 far from overflow whatever a corrupt header says.
	maxArtifactItems = 1 << 16
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// MarshalBinary encodes the model as a versioned, checksummed artifact; the bytes depend
// only on the model.
func (m *Model) MarshalBinary() ([]byte, error) {
	n := len(m.ids)
	buf := make([]byte, 0, headerLen+8*n+4*n*n+4)
	buf = append(buf, artifactMagic...)
	buf = binary.LittleEndian.AppendUint32(buf, artifactVersion)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(n))
	buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(m.lambda))
	for _, id := range m.ids {
		buf = binary.LittleEndian.AppendUint64(buf, uint64(id))
	}
	for _, v := range m.w {
		buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
	}
	return binary.LittleEndian.AppendUint32(buf, crc32.Checksum(buf, castagnoli)), nil
}

// UnmarshalBinary replaces m with the model encoded in data, or returns an error wrapping
// ErrBadArtifact and leaves m unchanged.
func (m *Model) UnmarshalBinary(data []byte) error {
	if len(data) < headerLen+4 {
		return fmt.Errorf("%w: %d bytes is shorter than the %d-byte header and checksum", ErrBadArtifact, len(data), headerLen+4)
	}
	if !bytes.HasPrefix(data, []byte(artifactMagic)) {
		return fmt.Errorf("%w: not an EASE artifact (magic %q)", ErrBadArtifact, data[:len(artifactMagic)])
	}
	le := binary.LittleEndian
	p := data[len(artifactMagic):]
	if v := le.Uint32(p); v != artifactVersion {
		return fmt.Errorf("%w: version %d, this build reads version %d", ErrBadArtifact, v, artifactVersion)
	}
	n := int(le.Uint32(p[4:]))
	lambda := math.Float64frombits(le.Uint64(p[8:]))
	if n == 0 || n > maxArtifactItems {
		return fmt.Errorf("%w: %d items, want 1..%d", ErrBadArtifact, n, maxArtifactItems)
	}
	if want := headerLen + 8*n + 4*n*n + 4; len(data) != want {
		return fmt.Errorf("%w: %d bytes, want %d for %d items", ErrBadArtifact, len(data), want, n)
	}
	body := data[:len(data)-4]
	if got, want := crc32.Checksum(body, castagnoli), le.Uint32(data[len(body):]); got != want {
		return fmt.Errorf("%w: checksum %08x, want %08x", ErrBadArtifact, got, want)
	}
	if !(lambda > 0) || math.IsInf(lambda, 1) {
		return fmt.Errorf("%w: lambda %v", ErrBadArtifact, lambda)
	}
	p = body[headerLen:]
	ids := make([]int64, n)
	for k := range ids {
		ids[k] = int64(le.Uint64(p[8*k:]))
		if k > 0 && ids[k] <= ids[k-1] {
			return fmt.Errorf("%w: item ids not strictly ascending at index %d", ErrBadArtifact, k)
		}
	}
	p = p[8*n:]
	w := make([]float32, n*n)
	for k := range w {
		v := math.Float32frombits(le.Uint32(p[4*k:]))
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("%w: weight (%d, %d) is %v", ErrBadArtifact, k/n, k%n, v)
		}
		if k/n == k%n && v != 0 {
			return fmt.Errorf("%w: diagonal weight %d is %v, want 0", ErrBadArtifact, k/n, v)
		}
		w[k] = v
	}
	*m = Model{lambda: lambda, ids: ids, w: w}
	return nil
}
