package ann

import (
	"encoding/binary"
	"hash/crc32"
	"math"
	"math/rand/v2"
)

// The serialised HNSW, all little-endian:
//
//	magic     [8]byte "CBANNHNS"
//	version   uint32 (hnswVersion)
//	dim, M, EfConstruction, EfSearch, flags uint32 (flags bit 0: KeepPrunedConnections)
//	seed      uint64
//	nodes     uint64
//	upperLen  uint64
//	entry     int32 node (−1 when empty), uint32 level
//	rngLen    uint32, then rngLen bytes: the level generator's state (rand.PCG)
//	ids       nodes × int64
//	levels    nodes × uint8
//	vecs      nodes × dim × float32 (normalised)
//	links0    nodes × (1 + 2M) × int32: per node the layer-0 count, then 2M slots
//	upperAt   nodes × int32
//	upper     upperLen × int32
//	crc       uint32, CRC-32C of every byte before it
//
// Sizes are checked against the input's length before anything is allocated, and every
// link, count, level and offset is range-checked after the checksum, so a truncated,
// corrupt or hostile artifact is refused with ErrCorrupt and can never make a later search
// index out of range.
const (
	hnswMagic   = "CBANNHNS"
	hnswVersion = 1
	headerSize  = 8 + 4 + 5*4 + 3*8 + 4 + 4 + 4
	flagKeep    = 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// MarshalBinary serialises the index (see the format above). It waits for inserts in
// flight to finish and blocks new ones while it copies; searches wait too.
func (h *HNSW) MarshalBinary() ([]byte, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := h.n
	rngState, err := h.pcg.MarshalBinary()
	if err != nil {
		return nil, err
	}
	size := headerSize + len(rngState) + n*(8+1+4*h.dim+4+4*h.m0+4) + 4*h.upperN + 4
	b := make([]byte, 0, size)
	le := binary.LittleEndian
	b = append(b, hnswMagic...)
	b = le.AppendUint32(b, hnswVersion)
	var flags uint32
	if h.cfg.KeepPrunedConnections {
		flags |= flagKeep
	}
	for _, v := range []int{h.dim, h.cfg.M, h.cfg.EfConstruction, h.cfg.EfSearch} {
		b = le.AppendUint32(b, uint32(v))
	}
	b = le.AppendUint32(b, flags)
	b = le.AppendUint64(b, h.cfg.Seed)
	b = le.AppendUint64(b, uint64(n))
	b = le.AppendUint64(b, uint64(h.upperN))
	entryNode, entryLvl := int32(-1), 0
	if e := h.entry.Load(); e != 0 {
		entryNode, entryLvl = unpackEntry(e)
	}
	b = le.AppendUint32(b, uint32(entryNode))
	b = le.AppendUint32(b, uint32(entryLvl))
	b = le.AppendUint32(b, uint32(len(rngState)))
	b = append(b, rngState...)
	for _, id := range h.ids[:n] {
		b = le.AppendUint64(b, uint64(id))
	}
	b = append(b, h.levels[:n]...)
	for _, f := range h.vecs[:n*h.dim] {
		b = le.AppendUint32(b, math.Float32bits(f))
	}
	b = appendInt32s(b, h.links0[:n*(1+h.m0)])
	b = appendInt32s(b, h.upperAt[:n])
	b = appendInt32s(b, h.upper[:h.upperN])
	b = le.AppendUint32(b, crc32.Checksum(b, castagnoli))
	return b, nil
}

func appendInt32s(b []byte, s []int32) []byte {
	for _, v := range s {
		b = binary.LittleEndian.AppendUint32(b, uint32(v))
	}
	return b
}

// LoadHNSW decodes an index written by MarshalBinary.
func LoadHNSW(data []byte) (*HNSW, error) {
	h := &HNSW{}
	if err := h.UnmarshalBinary(data); err != nil {
		return nil, err
	}
	return h, nil
}

// UnmarshalBinary replaces the index with one written by MarshalBinary, refusing (with
// ErrCorrupt, the index unchanged) anything truncated, of another version or inconsistent.
// It must not run concurrently with other calls on the same index; LoadHNSW is the usual
// way in.
func (h *HNSW) UnmarshalBinary(data []byte) error {
	d, err := decodeHNSW(data)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.addMu.Lock()
	defer h.addMu.Unlock()
	h.init(d.dim, d.cfg)
	h.n = d.n
	h.upperN = len(d.upper)
	h.vecs, h.ids, h.levels = d.vecs, d.ids, d.levels
	h.links0, h.upperAt, h.upper = d.links0, d.upperAt, d.upper
	h.capNodes = d.n
	h.pos = d.pos
	if err := h.pcg.UnmarshalBinary(d.rng); err != nil {
		return corrupt("level generator state: %v", err)
	}
	h.entry.Store(d.entry)
	h.done.Store(int64(d.n))
	return nil
}

// decoded is a fully checked artifact, not yet installed.
type decoded struct {
	cfg     HNSWConfig
	dim, n  int
	rng     []byte
	entry   uint64
	ids     []int64
	levels  []uint8
	vecs    []float32
	links0  []int32
	upperAt []int32
	upper   []int32
	pos     map[int64]int32
}

// reader walks a byte slice; every read is bounds-checked by the caller's size check.
type reader struct {
	b   []byte
	off int
}

func (r *reader) u32() uint32 {
	v := binary.LittleEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v
}

func (r *reader) u64() uint64 {
	v := binary.LittleEndian.Uint64(r.b[r.off:])
	r.off += 8
	return v
}

func (r *reader) int32s(n int) []int32 {
	s := make([]int32, n)
	for i := range s {
		s[i] = int32(r.u32())
	}
	return s
}

func decodeHNSW(data []byte) (*decoded, error) {
	if len(data) < headerSize+4 {
		return nil, corrupt("%d bytes, shorter than the %d-byte header", len(data), headerSize+4)
	}
	if string(data[:8]) != hnswMagic {
		return nil, corrupt("magic %q, want %q", data[:8], hnswMagic)
	}
	r := &reader{b: data, off: 8}
	if v := r.u32(); v != hnswVersion {
		return nil, corrupt("format version %d, this build reads %d", v, hnswVersion)
	}
	dim64, m64, efc, efs, flags := uint64(r.u32()), uint64(r.u32()), r.u32(), r.u32(), r.u32()
	d := &decoded{}
	d.cfg = HNSWConfig{
		M:                     int(m64),
		EfConstruction:        int(efc),
		EfSearch:              int(efs),
		Seed:                  r.u64(),
		KeepPrunedConnections: flags&flagKeep != 0,
	}
	nodes, upperLen := r.u64(), r.u64()
	entryNode, entryLvl := int32(r.u32()), r.u32()
	rngLen := uint64(r.u32())
	if flags&^flagKeep != 0 {
		return nil, corrupt("unknown flags %#x", flags)
	}
	if dim64 == 0 || dim64 > 1<<16 {
		return nil, corrupt("dim %d", dim64)
	}
	if err := d.cfg.Validate(); err != nil {
		return nil, corrupt("config: %v", err)
	}
	// Each count is bounded by the input length before it is multiplied, so the size
	// arithmetic cannot overflow and nothing is allocated for bytes that are not there.
	avail := uint64(len(data))
	perNode := 8 + 1 + 4*dim64 + 4 + 8*m64 + 4
	if nodes > avail/perNode || nodes > maxNodes || upperLen > avail/4 || rngLen > 64 {
		return nil, corrupt("header claims %d nodes and %d upper-layer slots in %d bytes", nodes, upperLen, avail)
	}
	want := uint64(headerSize) + rngLen + nodes*perNode + 4*upperLen + 4
	if avail != want {
		return nil, corrupt("%d bytes, header implies %d (truncated or padded)", avail, want)
	}
	body := data[:len(data)-4]
	if got, sum := crc32.Checksum(body, castagnoli), binary.LittleEndian.Uint32(data[len(data)-4:]); got != sum {
		return nil, corrupt("checksum %08x, stored %08x", got, sum)
	}

	dim, n, m, m0 := int(dim64), int(nodes), int(m64), 2*int(m64)
	d.dim, d.n = dim, n
	d.rng = data[r.off : r.off+int(rngLen)]
	r.off += int(rngLen)
	d.ids = make([]int64, n)
	d.pos = make(map[int64]int32, n)
	for i := range d.ids {
		d.ids[i] = int64(r.u64())
		if _, dup := d.pos[d.ids[i]]; dup {
			return nil, corrupt("id %d appears twice", d.ids[i])
		}
		d.pos[d.ids[i]] = int32(i)
	}
	d.levels = append([]uint8(nil), data[r.off:r.off+n]...)
	r.off += n
	d.vecs = make([]float32, n*dim)
	for i := range d.vecs {
		f := math.Float32frombits(r.u32())
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return nil, corrupt("node %d has a non-finite component", i/dim)
		}
		d.vecs[i] = f
	}
	d.links0 = r.int32s(n * (1 + m0))
	d.upperAt = r.int32s(n)
	d.upper = r.int32s(int(upperLen))

	// The graph must be one a search can walk without leaving the slices: counts within
	// capacity, links to existing nodes, upper-layer links only to nodes that have that
	// layer, blocks inside upper.
	top := -1
	for i := range n {
		lvl := int(d.levels[i])
		if lvl > maxLevel {
			return nil, corrupt("node %d has level %d", i, lvl)
		}
		top = max(top, lvl)
		o := i * (1 + m0)
		c := int(d.links0[o])
		if c < 0 || c > m0 {
			return nil, corrupt("node %d has %d links on layer 0", i, c)
		}
		for _, nb := range d.links0[o+1 : o+1+c] {
			if nb < 0 || int(nb) >= n {
				return nil, corrupt("node %d links to node %d of %d", i, nb, n)
			}
		}
		if lvl == 0 {
			continue
		}
		at := int(d.upperAt[i])
		if at < 0 || at+lvl*(m+1) > len(d.upper) {
			return nil, corrupt("node %d's upper-layer block at %d overruns %d slots", i, at, len(d.upper))
		}
		for lc := 1; lc <= lvl; lc++ {
			o := at + (lc-1)*(m+1)
			c := int(d.upper[o])
			if c < 0 || c > m {
				return nil, corrupt("node %d has %d links on layer %d", i, c, lc)
			}
			for _, nb := range d.upper[o+1 : o+1+c] {
				if nb < 0 || int(nb) >= n || int(d.levels[nb]) < lc {
					return nil, corrupt("node %d links on layer %d to node %d, which is not on it", i, lc, nb)
				}
			}
		}
	}
	switch {
	case n == 0 && entryNode != -1:
		return nil, corrupt("empty index with entry point %d", entryNode)
	case n == 0:
		d.entry = 0
	case entryNode < 0 || int(entryNode) >= n || int(entryLvl) != int(d.levels[entryNode]) || int(entryLvl) != top:
		return nil, corrupt("entry point %d at level %d, top level is %d", entryNode, entryLvl, top)
	default:
		d.entry = packEntry(entryNode, int(entryLvl))
	}
	if err := rand.NewPCG(0, 0).UnmarshalBinary(d.rng); err != nil {
		return nil, corrupt("level generator state: %v", err)
	}
	return d, nil
}
