// Package membership measures how much a trained model reveals about which rows it was
// trained on. Two attacks: the loss-threshold attack (Yeom et al. 2018), which ranks records
// by the model's loss on them, and the shadow-model attack (Shokri et al. 2017), which
// learns what "member" looks like from models the attacker trains itself. Each reports an
// attack AUC over members (training rows) and non-members (rows of the same distribution the
// model never saw): 0.5 is a coin flip, 1 is a perfect membership oracle.
package membership

import (
	"errors"
	"fmt"
	"math"

	"github.com/casebook-ml/casebook/platform/ml"
)

// Attack names, as recorded in registry.Privacy.MembershipInference.
const (
	LossThreshold = "loss-threshold"
	ShadowModel   = "shadow-model"
)

// ErrInput reports data an attack cannot run on.
var ErrInput = errors.New("membership: bad input")

// Result is one attack's outcome.
type Result struct {
	Attack string
	// AUC is the attack's area under the ROC curve for telling members from non-members.
	AUC float64
	// Lo and Hi bound a 95% interval for AUC (Hanley and McNeil's standard error), so that
	// 0.52 can be told from 0.50 or not.
	Lo, Hi float64
	// Members and NonMembers are the rows the AUC was measured on (balanced: equal counts).
	Members, NonMembers int
}

// Contains reports whether v lies in the interval.
func (r Result) Contains(v float64) bool { return r.Lo <= v && v <= r.Hi }

func (r Result) String() string {
	return fmt.Sprintf("%s AUC %.3f [%.3f, %.3f] over %d+%d rows", r.Attack, r.AUC, r.Lo, r.Hi, r.Members, r.NonMembers)
}

// Losses returns the model's log loss on every row of d: −y·log p − (1−y)·log(1−p).
func Losses(m ml.Model, d ml.Dataset) ([]float64, error) {
	p, err := predict(m, d)
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(p))
	for i, pi := range p {
		if math.IsNaN(pi) || pi < 0 || pi > 1 {
			return nil, fmt.Errorf("%w: the model predicts %v for row %d", ErrInput, pi, i)
		}
		out[i] = logLoss(d.Y[i], pi)
	}
	return out, nil
}

func predict(m ml.Model, d ml.Dataset) ([]float64, error) {
	if err := d.Validate(false); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	p := make([]float64, d.Rows())
	if err := m.Predict(d.Batch(), p); err != nil {
		return nil, fmt.Errorf("membership: predict: %w", err)
	}
	return p, nil
}

func logLoss(y, p float64) float64 {
	const eps = 1e-12
	p = math.Min(math.Max(p, eps), 1-eps)
	return -y*math.Log(p) - (1-y)*math.Log(1-p)
}

// balance returns the first n rows of each set, n the smaller row count.
func balance(members, nonMembers ml.Dataset) (ml.Dataset, ml.Dataset, error) {
	if members.Schema.Hash() != nonMembers.Schema.Hash() {
		return ml.Dataset{}, ml.Dataset{}, fmt.Errorf("%w: members and non-members have different schemas", ErrInput)
	}
	n := min(members.Rows(), nonMembers.Rows())
	if n < 2 {
		return ml.Dataset{}, ml.Dataset{}, fmt.Errorf("%w: %d members and %d non-members, want ≥ 2 of each", ErrInput, members.Rows(), nonMembers.Rows())
	}
	return head(members, n), head(nonMembers, n), nil
}

func head(d ml.Dataset, n int) ml.Dataset {
	k := d.Schema.Len()
	return ml.Dataset{Schema: d.Schema, X: d.X[:n*k], Y: d.Y[:n]}
}

// LossAttack runs the loss-threshold attack: a record is guessed a member when the model's
// loss on it is low. The AUC sweeps every threshold, so the attacker needs no calibration.
// The sets are balanced by keeping the first rows of the larger one; pass them shuffled.
func LossAttack(m ml.Model, members, nonMembers ml.Dataset) (Result, error) {
	in, out, err := balance(members, nonMembers)
	if err != nil {
		return Result{}, err
	}
	li, err := Losses(m, in)
	if err != nil {
		return Result{}, err
	}
	lo, err := Losses(m, out)
	if err != nil {
		return Result{}, err
	}
	score := make([]float64, 0, len(li)+len(lo))
	label := make([]float64, 0, len(li)+len(lo))
	for _, l := range li {
		score, label = append(score, -l), append(label, 1)
	}
	for _, l := range lo {
		score, label = append(score, -l), append(label, 0)
	}
	return result(LossThreshold, label, score, len(li), len(lo)), nil
}

func result(attack string, label, score []float64, nIn, nOut int) Result {
	auc := ml.AUC(label, score)
	se := hanleyMcNeil(auc, nIn, nOut)
	return Result{Attack: attack, AUC: auc, Lo: math.Max(0, auc-1.96*se), Hi: math.Min(1, auc+1.96*se), Members: nIn, NonMembers: nOut}
}

// hanleyMcNeil is the standard error of an AUC over n1 positives and n2 negatives
// (Hanley and McNeil 1982).
func hanleyMcNeil(a float64, n1, n2 int) float64 {
	q1 := a / (2 - a)
	q2 := 2 * a * a / (1 + a)
	v := (a*(1-a) + float64(n1-1)*(q1-a*a) + float64(n2-1)*(q2-a*a)) / float64(n1*n2)
	return math.Sqrt(math.Max(v, 0))
}
