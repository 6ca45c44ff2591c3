//go:build !purego

package ann

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// haveAVX2FMA is fixed at start-up from CPUID (like the standard library's own feature
// flags); it is never written afterwards.
var haveAVX2FMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func dotAVX2(a, b []float32) float32

// dot is the inner product of two equal-length vectors: the AVX2/FMA kernel where the CPU
// has it (every x86-64 server of the last decade), the portable unrolled loop otherwise.
func dot(a, b []float32) float32 {
	if haveAVX2FMA {
		return dotAVX2(a, b[:len(a)]) // the kernel reads len(a) floats of b
	}
	return dotGeneric(a, b)
}

// prefetchRows hints the CPU to start loading rows[i] of the row-major array at base (rows
// of rowBytes bytes) into cache. A graph search knows which vectors it will read a few
// hundred nanoseconds before it reads them; issuing the loads together overlaps their
// cache misses instead of paying them one after another.
//
//go:noescape
func prefetchRows(base unsafe.Pointer, rows []int32, rowBytes int)
