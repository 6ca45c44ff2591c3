//go:build race

package ann

// raceEnabled shrinks the test data sets: the race detector slows the graph code by an
// order of magnitude, and the concurrency checks need many interleavings, not many
// vectors.
const raceEnabled = true
