package check

import (
	"encoding/json"
	"fmt"
)

// The Grafana dashboards under deploy/grafana/dashboards are generated from this file:
// `go test ./deploy/check -run TestDashboards -update` writes them, and the same test
// fails when a file differs from what this code makes. That every query names a metric
// some binary registers is checked in platform/internal/repocheck (TestDashboardMetrics),
// next to the alert rules' check, where the platform's registries are at hand.

// Panel is one time series panel: a title, a unit and its PromQL queries.
type Panel struct {
	Title   string
	Unit    string // Grafana unit: s, reqps, percentunit, short, ...
	Queries []Query
}

// Query is one PromQL expression with its legend.
type Query struct{ Expr, Legend string }

// Dashboard is one generated dashboard.
type Dashboard struct {
	File, UID, Title, Description string
	Panels                        []Panel
}

// quantiles is a p50 and a p99 query over a histogram, summed by the given labels.
func quantiles(metric, by, selector, legend string) []Query {
	sel := ""
	if selector != "" {
		sel = "{" + selector + "}"
	}
	grp := "le"
	if by != "" {
		grp = by + ", le"
	}
	var qs []Query
	for _, q := range []struct{ p, name string }{{"0.5", "p50"}, {"0.99", "p99"}} {
		l := q.name
		if legend != "" {
			l = q.name + " " + legend
		}
		qs = append(qs, Query{fmt.Sprintf("histogram_quantile(%s, sum by (%s) (rate(%s_bucket%s[1m])))", q.p, grp, metric, sel), l})
	}
	return qs
}

// Dashboards are the four dashboards: the platform's and one per case study.
func Dashboards() []Dashboard {
	return []Dashboard{
		{File: "platform.json", UID: "casebook-platform", Title: "Casebook platform: serving and monitoring",
			Description: "mlp serve (Open Inference Protocol) and mlp monitor --loop: rates, latency, fallbacks, drift, online quality, alerts.",
			Panels: []Panel{
				{"Requests by model and path", "reqps", []Query{{`sum by (model, path) (rate(casebook_serving_requests_total[1m]))`, "{{model}} {{path}}"}}},
				{"Request latency p50/p99 by model", "s", quantiles("casebook_serving_request_seconds", "model", "", "{{model}}")},
				{"Batch queue wait p50/p99 by model", "s", quantiles("casebook_serving_queue_wait_seconds", "model", "", "{{model}}")},
				{"Fallbacks by model and reason", "reqps", []Query{{`sum by (model, reason) (rate(casebook_serving_fallbacks_total[1m]))`, "{{model}} {{reason}}"}}},
				{"Refused and expired requests", "reqps", []Query{
					{`sum by (model, reason) (rate(casebook_serving_admission_refused_total[1m]))`, "refused {{model}} {{reason}}"},
					{`sum by (model) (rate(casebook_serving_expired_total[1m]))`, "expired {{model}}"},
					{`sum by (code) (rate(casebook_serving_bad_requests_total[1m]))`, "bad request {{code}}"}}},
				{"Prediction log drops", "short", []Query{{`sum by (model) (rate(casebook_serving_prediction_log_dropped_total[5m]))`, "{{model}}"}}},
				{"Feature drift by feature and method", "short", []Query{{`max by (model, feature, method) (casebook_monitoring_drift)`, "{{model}} {{feature}} {{method}}"}}},
				{"Data quality issues", "short", []Query{{`sum by (model, feature, check) (rate(casebook_monitoring_data_quality_issues_total[5m]))`, "{{model}} {{feature}} {{check}}"}}},
				{"Online quality against the registry", "short", []Query{
					{`max by (model, version, metric) (casebook_monitoring_online_quality)`, "{{model}} v{{version}} {{metric}}"},
					{`max by (model, version, metric) (casebook_monitoring_quality_decay)`, "decay {{model}} v{{version}} {{metric}}"}}},
				{"Label delay p50/p99", "s", quantiles("casebook_monitoring_label_delay_seconds", "model", "", "{{model}}")},
				{"Alerts firing", "short", []Query{{`sum by (alert, model, severity) (casebook_monitoring_alert_firing)`, "{{alert}} {{model}} ({{severity}})"}}},
				{"Scrape targets up", "short", []Query{{`up`, "{{job}} {{instance}}"}}},
			}},
		{File: "fraud.json", UID: "casebook-fraud", Title: "Casebook fraud: the stream scorer",
			Description: "fraud stream: decisions, append-to-decision lag, the model's serving latency, fallbacks to rules, feature store health and freshness.",
			Panels: []Panel{
				{"Decisions by path (model, rules)", "ops", []Query{{`sum by (path) (rate(casebook_fraud_decisions_total[1m]))`, "{{path}}"}}},
				{"Append to decision lag p50/p99", "s", quantiles("casebook_fraud_decision_lag_seconds", "", "", "")},
				{"Model scoring latency p50/p99 (serving)", "s", quantiles("casebook_serving_request_seconds", "model", `job="fraud"`, "{{model}}")},
				{"Fallbacks to rules and model errors", "ops", []Query{
					{`sum by (reason) (rate(casebook_serving_fallbacks_total{job="fraud"}[1m]))`, "fallback {{reason}}"},
					{`rate(casebook_fraud_model_errors_total[1m])`, "model errors"},
					{`rate(casebook_fraud_feature_store_errors_total[1m])`, "decided without features"}}},
				{"Decision events (new, duplicate, skipped)", "ops", []Query{{`sum by (outcome) (rate(casebook_fraud_decision_events_total[1m]))`, "{{outcome}}"}}},
				{"Chargebacks applied", "ops", []Query{{`rate(casebook_fraud_chargebacks_total[1m])`, "chargebacks"}}},
				{"Feature store up", "short", []Query{{`casebook_fraud_feature_store_up`, "up"}}},
				{"Feature freshness by view", "s", []Query{{`max by (view) (casebook_feature_freshness_seconds{job="fraud"})`, "{{view}}"}}},
				{"Score distribution p50/p99", "short", quantiles("casebook_serving_score", "model", `job="fraud"`, "{{model}}")},
			}},
		{File: "recsys.json", UID: "casebook-recsys", Title: "Casebook recommender",
			Description: "recsys serve: requests by the path that answered (personal, cold start, popular fallback), latency per stage, errors.",
			Panels: []Panel{
				{"Requests by path and code", "reqps", []Query{{`sum by (path, code) (rate(recsys_requests_total[1m]))`, "{{path}} {{code}}"}}},
				{"Stage latency p50/p99 (retrieve, features, rank, rerank, total)", "s", quantiles("recsys_stage_seconds", "stage", "", "{{stage}}")},
				{"Share answered by the popular fallback", "percentunit", []Query{{`sum(rate(recsys_requests_total{path="fallback-popular"}[5m])) / sum(rate(recsys_requests_total[5m]))`, "fallback share"}}},
				{"Errors by reason", "reqps", []Query{{`sum by (reason) (rate(recsys_request_errors_total[1m]))`, "{{reason}}"}}},
			}},
		{File: "ads.json", UID: "casebook-ads", Title: "Casebook ad auction",
			Description: "adsranking serve: bid requests by outcome, latency per stage against the deadline, the degrade ladder, click-model calibration.",
			Panels: []Panel{
				{"Bid requests by outcome", "reqps", []Query{{`sum by (outcome) (rate(ads_requests_total[1m]))`, "{{outcome}}"}}},
				{"Request latency p50/p99 (in the bidder)", "s", quantiles("ads_request_seconds", "", "", "")},
				{"Stage latency p50/p99", "s", quantiles("ads_stage_seconds", "stage", "", "{{stage}}")},
				{"Degrade ladder (fallbacks) and late bids", "reqps", []Query{
					{`sum by (level) (rate(ads_degrade_total[1m]))`, "{{level}}"},
					{`rate(ads_late_total[1m])`, "late (sent as no-bid)"}}},
				{"Candidates scored p50/p99", "short", quantiles("ads_candidates_scored", "", "", "")},
				{"Calibration: observed / expected clicks", "short", []Query{{`max by (model, window) (ads_monitor_calibration_ratio)`, "{{model}} {{window}}"}}},
				{"Expected calibration error", "short", []Query{{`max by (model, window) (ads_monitor_ece)`, "{{model}} {{window}}"}}},
				{"Calibration alert", "short", []Query{{`max by (model) (ads_monitor_calibration_alert)`, "{{model}}"}}},
			}},
	}
}

// JSON renders d as a Grafana dashboard (schema version 39): time series panels in a
// two-column grid, every query on the provisioned Prometheus data source.
func (d Dashboard) JSON() ([]byte, error) {
	type ref struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	}
	ds := ref{"prometheus", "prometheus"}
	type target struct {
		RefID        string `json:"refId"`
		Datasource   ref    `json:"datasource"`
		Expr         string `json:"expr"`
		LegendFormat string `json:"legendFormat"`
	}
	var panels []map[string]any
	for i, p := range d.Panels {
		var ts []target
		for j, q := range p.Queries {
			ts = append(ts, target{string(rune('A' + j)), ds, q.Expr, q.Legend})
		}
		panels = append(panels, map[string]any{
			"id": i + 1, "type": "timeseries", "title": p.Title, "datasource": ds,
			"gridPos":     map[string]int{"h": 8, "w": 12, "x": 12 * (i % 2), "y": 8 * (i / 2)},
			"fieldConfig": map[string]any{"defaults": map[string]any{"unit": p.Unit}, "overrides": []any{}},
			"options":     map[string]any{"legend": map[string]any{"displayMode": "list", "placement": "bottom", "showLegend": true}},
			"targets":     ts,
		})
	}
	b, err := json.MarshalIndent(map[string]any{
		"uid": d.UID, "title": d.Title, "description": d.Description, "tags": []string{"casebook"},
		"schemaVersion": 39, "editable": true, "refresh": "10s", "timezone": "utc",
		"time":   map[string]string{"from": "now-30m", "to": "now"},
		"panels": panels,
	}, "", "  ")
	return append(b, '\n'), err
}
