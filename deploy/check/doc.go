// Package check holds the tests that hold deploy/ to the code without a cluster or a
// compose engine: every Kubernetes overlay builds with kustomize and decodes strictly into
// the Kubernetes API types, its probes ask the binaries' real health endpoints, the compose
// stack runs only images `make images` builds and Prometheus scrapes only its services,
// and the Grafana dashboards are the ones dashboards.go generates. It is its own module so
// that the Kubernetes and kustomize dependencies stay out of the platform's.
package check
