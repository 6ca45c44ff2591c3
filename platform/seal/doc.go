// Package seal encrypts data at rest: a Keyring of AES-256-GCM keys, each with an id, seals
// bytes into a self-describing envelope (magic, format version, key id, nonce, ciphertext)
// and opens it again, refusing an unknown key, a wrong key, tampered or truncated bytes with
// a clear error instead of returning garbage. The registry and the offline feature store use
// it for model artifacts and Parquet files.
package seal
