package statusrec

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestCode(t *testing.T) {
	for _, c := range []struct {
		name  string
		serve func(w http.ResponseWriter)
		want  int
	}{
		{"nothing written", func(http.ResponseWriter) {}, http.StatusOK},
		{"body without a header", func(w http.ResponseWriter) { w.Write([]byte("x")) }, http.StatusOK},
		{"header", func(w http.ResponseWriter) { w.WriteHeader(http.StatusTeapot) }, http.StatusTeapot},
		{"1xx then final", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusServiceUnavailable)
		}, http.StatusServiceUnavailable},
		{"second header ignored", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusNotFound)
			w.WriteHeader(http.StatusOK)
		}, http.StatusNotFound},
	} {
		rec := httptest.NewRecorder()
		w := New(rec)
		c.serve(w)
		if got := w.Code(); got != c.want {
			t.Errorf("%s: Code() = %d, want %d", c.name, got, c.want)
		}
		if http.NewResponseController(w).Flush() != nil {
			t.Errorf("%s: Flush through the wrapper failed", c.name)
		}
	}
}
