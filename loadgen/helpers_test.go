package loadgen_test

import (
	"bytes"
	"sync"
)

// syncBuffer is a bytes.Buffer safe to write from the progress goroutine and read after.
type syncBuffer struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
