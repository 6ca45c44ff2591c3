//go:build !amd64 || purego

package ann

import "unsafe"

// dot is the inner product of two equal-length vectors (portable build: build tag purego
// or a non-amd64 target).
func dot(a, b []float32) float32 { return dotGeneric(a, b) }

// prefetchRows is a no-op in the portable build.
func prefetchRows(base unsafe.Pointer, rows []int32, rowBytes int) {}
