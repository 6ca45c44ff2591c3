// Package registry is Casebook's model registry: registered models with monotonically
// numbered, immutable versions whose artifacts are stored by sha256 and verified on every
// load; aliases (champion, challenger, shadow, any name) as the only mutable pointers;
// validation gates that an alias move must pass; a hash-chained, append-only audit log of
// every registration and move; a watch API for alias moves; and model cards.
//
// The Registry type holds the logic. Persistence sits behind the Store seam, with a
// filesystem implementation (registry/fs, the local default) and a NATS JetStream one
// (registry/natskv: KV for records, Object Store for artifacts) shared by many servers.
package registry
