// Package cputime reads the CPU time this process has used (user + system, all threads),
// the figure Casebook reports next to every latency: CPU per request or per decision
// survives a busy machine far better than a percentile does.
package cputime
