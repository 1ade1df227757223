package deploy

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// MonitoringQuery is one PromQL expression the chart renders: an alert of the
// PrometheusRule, or a query of the Grafana dashboard.
type MonitoringQuery struct {
	// Source says where it is, such as "alert GracekeeperCallsFailOpen".
	Source string
	// Expr is the PromQL, with the dashboard's Grafana variables replaced by
	// values PromQL parses (see grafanaVariables).
	Expr string
}

// grafanaVariables are the dashboard's variables and what stands for them when
// a query is parsed: $__rate_interval is Grafana's own, $namespace the
// dashboard's.
var grafanaVariables = strings.NewReplacer("$__rate_interval", "5m", "$namespace", ".+")

// labelValues is a Grafana variable query: label_values(metric, label).
var labelValues = regexp.MustCompile(`^label_values\(\s*([^,]+),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)$`)

// MonitoringQueries returns every alert expression of the PrometheusRules and
// every query (panel targets and variable queries) of the dashboard
// ConfigMaps among objs. A dashboard that is not JSON is an error.
func MonitoringQueries(objs []*unstructured.Unstructured) ([]MonitoringQuery, error) {
	var out []MonitoringQuery
	for _, obj := range objs {
		switch {
		case obj.GetKind() == "PrometheusRule":
			groups, _, _ := unstructured.NestedSlice(obj.Object, "spec", "groups")
			for _, g := range groups {
				rules, _ := g.(map[string]any)["rules"].([]any)
				for _, r := range rules {
					rule, _ := r.(map[string]any)
					expr, _ := rule["expr"].(string)
					out = append(out, MonitoringQuery{Source: fmt.Sprintf("alert %v", rule["alert"]), Expr: expr})
				}
			}
		case obj.GetKind() == "ConfigMap" && obj.GetLabels()["grafana_dashboard"] != "":
			data, _, _ := unstructured.NestedStringMap(obj.Object, "data")
			for key, text := range data {
				queries, err := dashboardQueries(text)
				if err != nil {
					return nil, fmt.Errorf("ConfigMap %s key %s: %w", obj.GetName(), key, err)
				}
				out = append(out, queries...)
			}
		}
	}
	return out, nil
}

func dashboardQueries(text string) ([]MonitoringQuery, error) {
	var dashboard struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				RefID string `json:"refId"`
				Expr  string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal([]byte(text), &dashboard); err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	var out []MonitoringQuery
	for _, p := range dashboard.Panels {
		for _, t := range p.Targets {
			out = append(out, MonitoringQuery{Source: fmt.Sprintf("panel %q query %s", p.Title, t.RefID), Expr: grafanaVariables.Replace(t.Expr)})
		}
	}
	for _, v := range dashboard.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(map[string]any)
		text, _ := q["query"].(string)
		m := labelValues.FindStringSubmatch(text)
		if m == nil {
			return nil, fmt.Errorf("variable %s: query %q is not label_values(metric, label)", v.Name, text)
		}
		out = append(out, MonitoringQuery{Source: "variable " + v.Name, Expr: m[1]})
	}
	return out, nil
}

// MetricNames parses expr as PromQL and returns the metric names its
// selectors name, sorted. A selector without a fixed name (only a regexp on
// __name__) is an error: nothing could check it.
func MetricNames(expr string) ([]string, error) {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	var walkErr error
	parser.Inspect(e, func(node parser.Node, _ []parser.Node) error {
		vs, ok := node.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
				name = m.Value
			}
		}
		if name == "" {
			walkErr = fmt.Errorf("selector %s names no metric", vs)
		}
		names = append(names, name)
		return nil
	})
	if walkErr != nil {
		return nil, walkErr
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}
