// Package monitoring watches models in production and closes the loop back to training:
// drift between a reference window and a sliding live window (PSI, KL, Jensen-Shannon,
// Kolmogorov-Smirnov, chi-squared), data-quality checks, a prediction log written to the
// event log, outcomes joined to predictions by id in event time, online quality per model
// version, alert rules with hysteresis, and the alert trigger that starts a retraining
// whose result goes through the registry's gates to the canary alias. Loop runs that
// cycle on the prediction log serving writes, and promotes a canary only on online
// evidence (mlp monitor --loop).
//
// It depends only downward (eventlog, predlog, features, ml, registry, pipeline). The
// prediction log's records and streams are platform/predlog's, shared with serving, which
// writes the log without importing monitoring.
package monitoring
