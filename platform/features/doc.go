// Package features is Casebook's feature store: feature definitions written once in Go and
// executed both offline (batch over the event log, for training sets and backfills) and
// online (streaming, one event at a time, for serving), an offline store of immutable
// Parquet partitions with a point-in-time join, an OnlineStore seam (memory and Redis
// implementations in subpackages), materialization, streaming ingestion and freshness
// metrics.
//
// # Definitions
//
// An Entity names a join key. A FeatureView groups typed features about one entity, with a
// TTL and a Transform from an Event. A plain view's transform returns the feature values; an
// aggregation view's transform returns numeric inputs, and the view declares windowed
// aggregations over them (count, sum, mean, min, max, and ratio of two sums). A
// FeatureService is the versioned list of "view:feature" references a model consumes; its
// schema hash (Registry.SchemaHash) covers every view's definition, so a model trained
// with one hash can refuse features computed another way.
//
// # Windows (precisely)
//
// Event time is cut into buckets of the view's Bucket size B, counted from the Unix epoch
// in UTC: bucket b holds times in [b·B, (b+1)·B), so an event exactly on a boundary belongs
// to the bucket it starts. A Window{Length: n·B, Delay: d·B} evaluated as of time t holds
// the events e with
//
//	bucket(t)-d-n+1 <= bucket(e) <= bucket(t)-d   and   time(e) <= t
//
// With Delay 0 ("ending at and including the event") that is the n-1 whole buckets before
// t's bucket and t's own bucket up to and including t. Every event at exactly t is
// included, whatever order the events arrived in (ties are symmetric). The span is more
// than L-B and at most L: bucketing trims up to one bucket at the old end, never adds one.
//
// With Delay d >= 1 bucket it is n whole buckets, the newest ending d buckets before t's
// bucket; the gap between the window's end and t is between D and D+B, never less than D,
// so labels that take up to D to arrive are in. Length and Delay must be whole multiples
// of Bucket; a window shorter than its bucket is rejected.
//
// A view's values "as of" an event are the window values at the event's time. The online
// store holds, per entity, the values as of its newest event; the offline store holds a row
// per entity and distinct event time, which is what the point-in-time join reads.
//
// # Late events and watermarks
//
// Each aggregation view has a watermark: the newest event time it has seen minus
// AllowedLateness. An event older than the watermark when it arrives is dropped and counted
// (Outcome Dropped). An event older than the newest time but not older than the watermark
// is applied (Outcome Late) and every later instant of its entity whose values it changes is
// emitted again with a higher Seq, so the newest-wins stores end up with correct values. An
// event id seen before is a Duplicate and changes nothing. The batch execution
// (ComputeBatch) replays the same watermark over log order and so drops exactly the same
// events; BatchOptions.IgnoreLateness, used by Backfill, keeps them instead.
//
// Float sums are order-dependent. Both executions add events into a bucket in log order and
// combine buckets oldest first, so their values are bit-identical; a recomputation over a
// differently ordered log may differ in the last bits.
//
// # Stores
//
// OnlineStore implementations keep the newest row per (view, entity) by (Time, Seq),
// validate every row before writing any, enforce the TTL on read (Stale, never a silent
// value) and return *UnavailableError when the engine does not answer within its timeout.
// OfflineStore keeps Parquet files per view and UTC day, never overwritten; an append or a
// backfill makes a new partition version listed in manifest.json.
package features
