// Package dp releases aggregates of a dataset (counts, clamped sums, means) with
// differential privacy, and keeps a per-dataset ledger of the privacy budget they spend.
//
// Mechanisms: Laplace (scale b = Δ₁/ε, pure ε-DP) and the analytic Gaussian mechanism of
// Balle & Wang (2018), whose σ is the smallest that makes the Gaussian's privacy profile
// meet (ε, δ) exactly, for any ε > 0 (the classic σ = Δ₂·√(2 ln(1.25/δ))/ε holds only for
// ε < 1 and is looser). Neighbouring datasets differ by adding or removing one record.
//
// A Ledger composes its queries either basically (the ε and δ add: loose for many queries,
// never wrong) or in Rényi DP (the queries' RDP curves add and the total is converted to ε
// at the budget's δ, which admits many more Gaussian queries for the same guarantee).
package dp
