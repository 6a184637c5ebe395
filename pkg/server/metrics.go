package server

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry returns packyard's Prometheus registry with the Go and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	handler  http.Handler
}

func newMetrics(reg *prometheus.Registry) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "packyard_http_requests_total", Help: "HTTP requests by area, method and status code.",
		}, []string{"area", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "packyard_http_request_duration_seconds", Help: "HTTP request latency by area.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"area"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
	return m, nil
}

// area is a low-cardinality label: the first path segment ("composer",
// "healthz") or the Connect service for RPCs.
func area(r *http.Request) string {
	p := strings.TrimPrefix(r.URL.Path, "/")
	seg, _, _ := strings.Cut(p, "/")
	switch {
	case seg == "":
		return "root"
	case strings.Contains(seg, "."):
		// /buf.registry.module.v1.ModuleService/GetModules
		if i := strings.LastIndex(seg, "."); i >= 0 && len(seg) < 120 {
			return seg
		}
	case len(seg) > 32:
		return "other"
	}
	return seg
}

func (m *metrics) observe(r *http.Request, status int, d time.Duration) {
	a := area(r)
	m.requests.WithLabelValues(a, r.Method, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(a).Observe(d.Seconds())
}
