// Package deploy holds what a user applies to run fallbackwatch in Kubernetes: the collector as a
// DaemonSet tailing every node's istio-proxy container logs (kustomization.yaml, daemonset/) or as
// a Deployment consuming Kafka (kafka/), their PodMonitor/ServiceMonitor, the PrometheusRule and
// dashboards ConfigMap generated for Bookinfo (bookinfo/, bookinfo-dashboards/: copies of
// monitoring/bookinfo/sample2 kept in sync by a test), and the image build (Dockerfile).
//
// The package has tests only: every YAML document parses, every flag the manifests pass exists
// in the collector binary, the copies are current, and the Dockerfile's build yields a static
// binary. See README.md.
package deploy
