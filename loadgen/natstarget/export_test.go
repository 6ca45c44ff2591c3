package natstarget

// PendingAnswers is the number of requests waiting for an answer, for tests that check
// timeouts clean up.
func (t *Target) PendingAnswers() int {
	n := 0
	t.await.pending.Range(func(any, any) bool { n++; return true })
	return n
}
