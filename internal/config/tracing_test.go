package config

import (
	"strings"
	"testing"
)

// TestTracingConfig: tracing is off by default; the endpoint comes from the standard
// OpenTelemetry variable or ours (ours wins), and bad values are refused with their key.
func TestTracingConfig(t *testing.T) {
	load := func(env map[string]string) (*Config, error) {
		return Load("", func(k string) string { return env[k] })
	}
	c, err := load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Tracing.OTLPEndpoint != "" || c.Tracing.SampleRatio != 1 || c.Tracing.ServiceName != "myaccount" {
		t.Errorf("defaults: %+v", c.Tracing)
	}
	c, err = load(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4318"})
	if err != nil || c.Tracing.OTLPEndpoint != "http://otel:4318" {
		t.Errorf("standard variable: %+v, %v", c, err)
	}
	c, err = load(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4318",
		"MYACCOUNT_TRACING_OTLP_ENDPOINT": "https://collector.example:4318", "MYACCOUNT_TRACING_SAMPLE_RATIO": "0.25"})
	if err != nil || c.Tracing.OTLPEndpoint != "https://collector.example:4318" || c.Tracing.SampleRatio != 0.25 {
		t.Errorf("ours wins: %+v, %v", c, err)
	}
	for _, bad := range []map[string]string{
		{"MYACCOUNT_TRACING_SAMPLE_RATIO": "1.5"},
		{"MYACCOUNT_TRACING_SAMPLE_RATIO": "-0.1"},
		{"MYACCOUNT_TRACING_SAMPLE_RATIO": "half"},
		{"MYACCOUNT_TRACING_OTLP_ENDPOINT": "otel:4318"},
		{"MYACCOUNT_TRACING_OTLP_ENDPOINT": "grpc://otel:4317"},
		{"MYACCOUNT_TRACING_OTLP_ENDPOINT": "http://otel:4318?x=1"},
	} {
		if _, err := load(bad); err == nil || !strings.Contains(err.Error(), "tracing.") {
			t.Errorf("%v: got %v, want an error naming the tracing key", bad, err)
		}
	}
}
