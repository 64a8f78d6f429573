package config

import (
	"strings"
	"testing"
)

// TestMetricsListenConfig: metrics.listen is off by default, MYACCOUNT_METRICS_LISTEN sets it,
// and an address that cannot be listened on is refused naming the key.
func TestMetricsListenConfig(t *testing.T) {
	load := func(env map[string]string) (*Config, error) {
		return Load("", func(k string) string { return env[k] })
	}
	c, err := load(nil)
	if err != nil || c.Metrics.Listen != "" {
		t.Fatalf("default: %q, %v", c.Metrics.Listen, err)
	}
	c, err = load(map[string]string{"MYACCOUNT_METRICS_LISTEN": "127.0.0.1:9090"})
	if err != nil || c.Metrics.Listen != "127.0.0.1:9090" {
		t.Errorf("from the environment: %+v, %v", c.Metrics, err)
	}
	for _, bad := range []string{"9090", "127.0.0.1:http-alt-x", "127.0.0.1:99999"} {
		if _, err := load(map[string]string{"MYACCOUNT_METRICS_LISTEN": bad}); err == nil || !strings.Contains(err.Error(), "metrics.listen") {
			t.Errorf("%q: got %v, want an error naming metrics.listen", bad, err)
		}
	}
}
