// Package repocheck holds tests that hold the repository's prose and configuration to
// the code: every path a document names exists, and every metric a Prometheus alert reads
// is one the platform registers. It has no code of its own.
package repocheck
