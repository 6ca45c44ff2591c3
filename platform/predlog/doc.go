// Package predlog is the prediction log's contract, shared by the side that writes it
// (serving, the applications' scorers) and the side that reads it (monitoring): the
// prediction and outcome records, how records are grouped into messages and read back,
// and the streams and subjects they live on with their duplicates window.
//
// It depends only on eventlog and ml, so a server can log predictions without importing
// monitoring (and, through it, the pipeline, the feature store and Parquet).
package predlog
