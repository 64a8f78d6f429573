// Package statusrec records the status code a handler answers with, for the middleware that
// report on requests (metrics, tracing).
package statusrec

import "net/http"

// Writer remembers the first final status code written through it. Unwrap keeps
// http.ResponseController working through the wrapper; Flush passes streaming on.
type Writer struct {
	http.ResponseWriter
	code int
}

// New wraps w.
func New(w http.ResponseWriter) *Writer { return &Writer{ResponseWriter: w} }

// Code is the status code answered: 200 when the handler wrote a body without one or wrote
// nothing at all (net/http answers 200 then). Informational codes (1xx) are not final and
// never count.
func (w *Writer) Code() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

func (w *Writer) WriteHeader(code int) {
	if w.code == 0 && code >= 200 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *Writer) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *Writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *Writer) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
