package dp

import "errors"

var (
	// ErrBudgetExceeded means a query would spend more than the ledger has left; it was
	// refused and nothing was spent.
	ErrBudgetExceeded = errors.New("privacy budget exceeded")
	// ErrInvalid means a parameter is out of range (ε ≤ 0, δ outside [0, 1), bounds reversed, ...).
	ErrInvalid = errors.New("invalid privacy parameter")
)
