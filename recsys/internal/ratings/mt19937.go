package ratings

// mt19937 is Matsumoto and Nishimura's Mersenne Twister (MT19937, 32-bit), the generator
// behind numpy's legacy RandomState, written from the reference mt19937ar.c. Only what the
// split needs is here: seeding from an integer and 32-bit outputs.
type mt19937 struct {
	mt  [mtN]uint32
	idx int
}

const (
	mtN         = 624
	mtM         = 397
	mtMatrixA   = 0x9908b0df
	mtUpperMask = 0x80000000
	mtLowerMask = 0x7fffffff
)

// newMT19937 seeds as init_genrand does, which is also what numpy's RandomState(seed) does
// for an integer seed in [0, 2^32).
func newMT19937(seed uint32) *mt19937 {
	m := &mt19937{}
	m.mt[0] = seed
	for i := 1; i < mtN; i++ {
		prev := m.mt[i-1]
		m.mt[i] = 1812433253*(prev^(prev>>30)) + uint32(i)
	}
	m.idx = mtN
	return m
}

// uint32 is genrand_int32.
func (m *mt19937) uint32() uint32 {
	if m.idx >= mtN {
		m.twist()
	}
	y := m.mt[m.idx]
	m.idx++
	y ^= y >> 11
	y ^= (y << 7) & 0x9d2c5680
	y ^= (y << 15) & 0xefc60000
	y ^= y >> 18
	return y
}

func (m *mt19937) twist() {
	for i := range mtN {
		y := (m.mt[i] & mtUpperMask) | (m.mt[(i+1)%mtN] & mtLowerMask)
		v := m.mt[(i+mtM)%mtN] ^ (y >> 1)
		if y&1 != 0 {
			v ^= mtMatrixA
		}
		m.mt[i] = v
	}
	m.idx = 0
}

// interval is numpy's legacy random_interval: a uniform integer in [0, max] drawn by
// masking 32-bit outputs with the smallest all-ones mask covering max and rejecting values
// above max. (numpy draws 64-bit outputs for max ≥ 2^32; no group is that large.)
func (m *mt19937) interval(max uint32) uint32 {
	if max == 0 {
		return 0
	}
	mask := max
	mask |= mask >> 1
	mask |= mask >> 2
	mask |= mask >> 4
	mask |= mask >> 8
	mask |= mask >> 16
	for {
		if v := m.uint32() & mask; v <= max {
			return v
		}
	}
}

// legacyPermutation is RandomState(seed).permutation(n): arange(n) shuffled by numpy's
// legacy Fisher–Yates, which walks i from n-1 down to 1 and swaps x[i] with
// x[random_interval(i)]. RandomState(seed).choice(n, n, replace=False), which pandas'
// DataFrame.sample(frac=1, random_state=seed) calls, is this permutation.
func legacyPermutation(n int, seed uint32) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	m := newMT19937(seed)
	for i := n - 1; i >= 1; i-- {
		j := m.interval(uint32(i))
		p[i], p[j] = p[j], p[i]
	}
	return p
}
