// Package serving is Casebook's online model server: many registry models in one process
// behind the Open Inference Protocol (v2) REST API, each with its own queue and workers (a
// bulkhead) and a dynamic batcher, priority classes with deadline-aware admission, rollouts
// driven by registry aliases (blue/green, canary, shadow) and a fallback chain behind a
// circuit breaker, so that every request gets an answer and says which path produced it.
//
// A request flows: auth → route (canary split by key) → admission (refuse early if it
// would miss its deadline) → model queue → batcher → a CPU slot granted by priority →
// Predict; on a failure, a timeout or an open breaker the fallback chain answers instead
// (last known good version, a heuristic, a default score). Shadow copies are scored off the
// caller's path and only compared and logged.
package serving
