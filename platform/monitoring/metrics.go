package monitoring

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the monitoring metrics, shared by every Monitor, Joiner and Alerter of a
// process and registered once. Labels are model, version, feature, method, check and alert
// names: all bounded by configuration, never an entity or request id.
//
//	casebook_monitoring_observations_total{model}                    predictions observed by a Monitor
//	casebook_monitoring_drift{model,feature,method}                  last drift value (p-value for ks, chi2)
//	casebook_monitoring_drift_status{model,feature,method}           0 ok, 1 insufficient, 2 warn, 3 alert
//	casebook_monitoring_data_quality_issues_total{model,feature,check} schema, missing, out_of_range, unseen_category, stale
//	casebook_monitoring_score_action_rate{model,window}              share of scores at or above the action threshold (reference, live)
//	casebook_monitoring_outcomes_total{model,result}                 joined, early, duplicate, late, expired, implicit_negative, orphan
//	casebook_monitoring_label_delay_seconds{model}                   event-time delay from prediction to outcome
//	casebook_monitoring_online_quality{model,version,metric}         auc, precision_at_k, precision_at_action, recall_at_action, positive_rate, mean_score, labelled, label_coverage (with JoinConfig.Periods)
//	casebook_monitoring_quality_decay{model,version,metric}          offline minus online, in the metric's better direction
//	casebook_monitoring_alert_firing{alert,model,severity}           1 while firing
//	casebook_monitoring_alert_transitions_total{alert,model,state}   firing, resolved
//	casebook_monitoring_predictions_logged_total{model,outcome}      ok, error
//	casebook_monitoring_retrain_triggers_total{model,outcome}        sent, dropped (a run was already queued)
type Metrics struct {
	observations  *prometheus.CounterVec
	drift         *prometheus.GaugeVec
	driftStatus   *prometheus.GaugeVec
	quality       *prometheus.CounterVec
	actionRate    *prometheus.GaugeVec
	outcomes      *prometheus.CounterVec
	labelDelay    *prometheus.HistogramVec
	online        *prometheus.GaugeVec
	decay         *prometheus.GaugeVec
	alertFiring   *prometheus.GaugeVec
	alertChanges  *prometheus.CounterVec
	logged        *prometheus.CounterVec
	retrainTrigge *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them on reg (nil: not exported, still
// usable).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		observations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "casebook_monitoring_observations_total", Help: "Predictions observed by the drift monitor."}, []string{"model"}),
		drift:        prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "casebook_monitoring_drift", Help: "Last drift value per feature and method (the p-value for ks and chi2)."}, []string{"model", "feature", "method"}),
		driftStatus:  prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "casebook_monitoring_drift_status", Help: "Drift verdict: 0 ok, 1 insufficient data, 2 warn, 3 alert."}, []string{"model", "feature", "method"}),
		quality:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "casebook_monitoring_data_quality_issues_total", Help: "Data-quality issues by feature and check (schema, missing, out_of_range, unseen_category, stale)."}, []string{"model", "feature", "check"}),
		actionRate:   prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "casebook_monitoring_score_action_rate", Help: "Share of scores at or above the action threshold, in the reference and the live window."}, []string{"model", "window"}),
		outcomes:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "casebook_monitoring_outcomes_total", Help: "Outcomes by join result (joined, early, duplicate, late, expired, implicit_negative, orphan)."}, []string{"model", "result"}),
		labelDelay: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "casebook_monitoring_label_delay_seconds", Help: "Event-time delay between a prediction and its outcome (outcomes that arrived; not implicit negatives).",
			Buckets: []float64{1, 10, 60, 600, 3600, 6 * 3600, 86400, 3 * 86400, 7 * 86400, 30 * 86400, 90 * 86400}}, []string{"model"}),
		online:        prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "casebook_monitoring_online_quality", Help: "Online quality per model version from joined outcomes."}, []string{"model", "version", "metric"}),
		decay:         prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "casebook_monitoring_quality_decay", Help: "Offline (registry) minus online quality, positive when online is worse."}, []string{"model", "version", "metric"}),
		alertFiring:   prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "casebook_monitoring_alert_firing", Help: "1 while the alert is firing, 0 otherwise."}, []string{"alert", "model", "severity"}),
		alertChanges:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "casebook_monitoring_alert_transitions_total", Help: "Alert state changes."}, []string{"alert", "model", "state"}),
		logged:        prometheus.NewCounterVec(prometheus.CounterOpts{Name: "casebook_monitoring_predictions_logged_total", Help: "Predictions written to the prediction log, by outcome."}, []string{"model", "outcome"}),
		retrainTrigge: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "casebook_monitoring_retrain_triggers_total", Help: "Retraining triggers sent by alerts."}, []string{"model", "outcome"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.observations, m.drift, m.driftStatus, m.quality, m.actionRate, m.outcomes, m.labelDelay,
			m.online, m.decay, m.alertFiring, m.alertChanges, m.logged, m.retrainTrigge} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("monitoring metrics: %w", err)
			}
		}
	}
	return m, nil
}
