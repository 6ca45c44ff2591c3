package ml

import (
	"runtime"
	"sync"
)

// chunkRows is the fixed unit of parallel work over rows. Partial results are computed
// per chunk and combined in chunk order, so a sum does not depend on how many workers ran:
// the same data and seed give the same bits on 1 core or 64.
const chunkRows = 8192

func workers(n int) int {
	if n <= 0 {
		return runtime.GOMAXPROCS(0)
	}
	return n
}

// forChunks calls fn(chunk, lo, hi) for every chunk of [0, n), on up to w goroutines.
func forChunks(n, w int, fn func(chunk, lo, hi int)) {
	chunks := (n + chunkRows - 1) / chunkRows
	forEach(chunks, w, func(c int) {
		lo := c * chunkRows
		fn(c, lo, min(lo+chunkRows, n))
	})
}

// forEach calls fn(i) for i in [0, n) on up to w goroutines; each i runs exactly once.
func forEach(n, w int, fn func(i int)) {
	w = min(workers(w), n)
	if w <= 1 {
		for i := 0; i < n; i++ {
			fn(i)
		}
		return
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		next int
	)
	for g := 0; g < w; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n {
					return
				}
				fn(i)
			}
		}()
	}
	wg.Wait()
}
