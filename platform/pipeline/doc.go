// Package pipeline runs Casebook's training pipeline: build the training set (a
// point-in-time join from the feature store, behind TrainingSetSource) → train → evaluate →
// register → gate → optionally move an alias. Every step checkpoints its output, so a run
// killed in any step resumes from the last completed one, and a rerun on the same inputs
// produces the same artifact hash and registers nothing new. Runs start on demand, on a
// schedule, or from a monitoring alert (Trigger).
package pipeline
