// Package loadgen is Casebook's load generator: it sends synthetic requests to a Target on an
// open-loop schedule (or from N closed-loop users) and reports latency measured from the
// intended send time, so queueing inside the generator or the system under test is never
// hidden (the coordinated-omission correction of wrk2), next to the uncorrected numbers a
// naive tool would print.
//
// The engine is generic. Targets (HTTP, NATS) and Workloads (what each request contains)
// plug in through the two small interfaces declared here; applications provide their own
// Workload to generate realistic traffic.
package loadgen
