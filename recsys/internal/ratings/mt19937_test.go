package ratings

import (
	"reflect"
	"testing"
)

// The reference outputs of mt19937ar.c's genrand_int32 after init_genrand(5489), the
// seed C++'s std::mt19937 defaults to (whose 10,000th output is 4123659995).
func TestMT19937Reference(t *testing.T) {
	m := newMT19937(5489)
	want := []uint32{3499211612, 581869302, 3890346734, 3586334585, 545404204}
	for i, w := range want {
		if got := m.uint32(); got != w {
			t.Fatalf("output %d = %d, want %d", i+1, got, w)
		}
	}
	var last uint32
	for range 10000 - len(want) {
		last = m.uint32()
	}
	if last != 4123659995 {
		t.Errorf("output 10000 = %d, want 4123659995", last)
	}
}

// numpy 1.24.2: np.random.RandomState(42).permutation(n) (recorded by split_reference.py in
// testdata/split_golden.txt as well).
func TestLegacyPermutation(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want []int
	}{
		{0, []int{}},
		{1, []int{0}},
		{2, []int{1, 0}},
		{3, []int{0, 1, 2}},
		{5, []int{1, 4, 2, 0, 3}},
		{10, []int{8, 1, 5, 0, 7, 2, 9, 4, 3, 6}},
	} {
		if got := legacyPermutation(tc.n, 42); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("legacyPermutation(%d, 42) = %v, want %v", tc.n, got, tc.want)
		}
	}
}
