// Package ml holds Casebook's model families (logistic regression, gradient-boosted
// decision trees, a random forest grown by the same tree code, a factorization machine, logistic matrix factorization), the metrics used to evaluate them and the
// latency knobs (distillation, int8 quantization, feature pruning) that trade accuracy for
// speed. Every model predicts a batch of rows over a fixed, named feature Schema, explains
// a single prediction, and encodes to a versioned artifact whose bytes depend only on the
// training data, the configuration and the seed, so the registry can address it by sha256.
package ml
