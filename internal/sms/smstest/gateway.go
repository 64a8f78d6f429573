// Package smstest is a fake SMS gateway for tests: a real HTTP server that speaks both the
// webhook (it verifies the signature) and Twilio's Messages API (it checks basic auth), and
// keeps every message it accepts.
package smstest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/myaccount/myaccount/internal/sms"
)

// Gateway is the fake.
type Gateway struct {
	URL string // base URL: the webhook is URL+"/hook", Twilio's base is URL

	secret        []byte
	sid, token    string
	mu            sync.Mutex
	msgs          []sms.Message
	badSignatures int
	failNext      int
	read          int // messages Wait has returned
	arrived       chan struct{}
}

// New starts a gateway whose webhook checks signatures under secret and whose Twilio API
// accepts the account sid with token. It stops when the test ends.
func New(t testing.TB, secret []byte, sid, token string) *Gateway {
	t.Helper()
	g := &Gateway{secret: secret, sid: sid, token: token, arrived: make(chan struct{}, 100)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /hook", g.hook)
	mux.HandleFunc("POST /2010-04-01/Accounts/{sid}/Messages.json", g.twilio)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	g.URL = srv.URL
	return g
}

// FailNext makes the next n requests answer 503 (a gateway outage).
func (g *Gateway) FailNext(n int) {
	g.mu.Lock()
	g.failNext = n
	g.mu.Unlock()
}

func (g *Gateway) failing() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.failNext > 0 {
		g.failNext--
		return true
	}
	return false
}

func (g *Gateway) keep(m sms.Message) {
	g.mu.Lock()
	g.msgs = append(g.msgs, m)
	g.mu.Unlock()
	g.arrived <- struct{}{}
}

func (g *Gateway) hook(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	if !sms.Verify(g.secret, r.Header.Get(sms.HeaderTimestamp), r.Header.Get(sms.HeaderSignature), body, time.Now(), 5*time.Minute) {
		g.mu.Lock()
		g.badSignatures++
		g.mu.Unlock()
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if g.failing() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	var m sms.Message
	if err := json.Unmarshal(body, &m); err != nil || m.To == "" || m.Body == "" || m.ID == "" {
		http.Error(w, "bad message", http.StatusBadRequest)
		return
	}
	g.keep(m)
	w.WriteHeader(http.StatusNoContent)
}

func (g *Gateway) twilio(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if !ok || user != g.sid || pass != g.token || r.PathValue("sid") != g.sid {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"code":20003,"message":"Authenticate","status":401}`)
		return
	}
	if g.failing() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("To") == "" || r.PostForm.Get("Body") == "" ||
		(r.PostForm.Get("From") == "" && r.PostForm.Get("MessagingServiceSid") == "") {
		http.Error(w, `{"code":21604,"message":"missing parameter","status":400}`, http.StatusBadRequest)
		return
	}
	g.keep(sms.Message{To: r.PostForm.Get("To"), Body: r.PostForm.Get("Body")})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]string{"sid": "SM0123", "status": "queued", "to": r.PostForm.Get("To")})
}

// Messages returns the messages received so far.
func (g *Gateway) Messages() []sms.Message {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]sms.Message(nil), g.msgs...)
}

// BadSignatures counts webhook requests refused for their signature.
func (g *Gateway) BadSignatures() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.badSignatures
}

// Wait returns the next message not yet returned, waiting for it to arrive.
func (g *Gateway) Wait(t testing.TB) sms.Message {
	t.Helper()
	select {
	case <-g.arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("no SMS arrived at the gateway within 10s")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	m := g.msgs[g.read]
	g.read++
	return m
}

var codeLine = regexp.MustCompile(`(?m)^@([^\s#]+) #([0-9]{6})$`)

// Code reads the one-time-code line of a message: host and code.
func Code(t testing.TB, m sms.Message) (host, code string) {
	t.Helper()
	sub := codeLine.FindStringSubmatch(m.Body)
	if sub == nil {
		t.Fatalf("no one-time-code line in %q", m.Body)
	}
	return sub[1], sub[2]
}
