package cputime

import "testing"

// TestProcessGrowsWithWork: spinning on the CPU moves the reading forward, and it never
// goes back.
func TestProcessGrowsWithWork(t *testing.T) {
	before := Process()
	if before <= 0 {
		t.Fatalf("Process() = %v at start, want > 0 (the test binary has run)", before)
	}
	x := 0
	for after := Process(); after-before < 20_000_000; after = Process() { // 20 ms of CPU
		if after < before {
			t.Fatalf("Process() went back: %v then %v", before, after)
		}
		for i := range 100_000 {
			x += i
		}
	}
	_ = x
}
