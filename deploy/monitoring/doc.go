// Package monitoring holds SMP's service alerting and dashboards as data — the
// PrometheusRule with the seed's three post-deploy alerts, the Alertmanager routes, the
// Grafana "Deploy timeline" dashboard — and the tests that keep them honest: the rules
// against the Prometheus Operator CRD schema and through promtool's unit tests, the routes
// through amtool, and every dashboard query against the metrics the services export.
package monitoring
