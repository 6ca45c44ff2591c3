// Package eventlog is Casebook's append-only event log on NATS JetStream: every application
// writes its raw events here, and everything downstream (features, training sets, the
// prediction log, monitoring) is derived from it and can be rebuilt by replaying it.
//
// What the package adds to plain nats.go:
//   - streams declared as code, where declaring the same stream twice is a no-op and
//     declaring it differently is a clear error unless the update is explicit;
//   - publishes keyed by an event id (Nats-Msg-Id), so a retried publish is stored once
//     while the stream's duplicates window lasts (the server keeps every id of the window in
//     memory: size it to the rate); batches either waited for (PublishBatch) or sent now and
//     collected later (PublishAsync), so a caller can overlap the round trip with its work;
//   - durable consumers with explicit acks, bounded redelivery with backoff, and a dead-letter
//     subject that receives a poison message after its last try, with the reason;
//   - ordered batch consumption (ConsumeOrdered) for readers whose state depends on order:
//     batches in stream order with one cumulative ack each, and no message overtaking an
//     unapplied earlier one, after a handler error or a crash; one reader per durable;
//   - FirstSeen, for a reader that must apply each event once even when a producer's
//     retry came after the duplicates window and was stored again: it tells the first
//     copy of an id from later ones within a horizon of log time, and is rebuilt from
//     the log itself after a crash;
//   - replay from a sequence or a time, which ends at the log's head instead of waiting;
//   - an embedded server for the local default, behind the same Open as a remote URL.
//
// Delivery is at least once. A consumer that crashes between applying an event and acking
// it sees the event again, so handlers must be idempotent by event id (see Dedup, and
// FirstSeen for copies stored twice).
package eventlog
