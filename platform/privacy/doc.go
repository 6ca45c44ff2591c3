// Package privacy holds the model-level privacy tools of walkthrough 1.9: attacks that
// measure what a trained model gives away about its training rows (membership), and
// training that never gathers the rows in one place (federated).
package privacy
