package apiclient

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// deadEndpoint returns the address of a port nothing listens on.
func deadEndpoint(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func TestFailsOverToALiveController(t *testing.T) {
	var hits int
	live := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`[{"name":"share.example.com"}]`))
	}))
	defer live.Close()
	c := New(deadEndpoint(t)+", "+live.URL, "tok")
	for range 2 {
		ns, err := c.Namespaces(context.Background())
		if err != nil || len(ns) != 1 {
			t.Fatalf("Namespaces = %v, %v", ns, err)
		}
	}
	if hits != 2 {
		t.Errorf("live controller got %d calls, want 2", hits)
	}
	if c.next != 1 {
		t.Errorf("the client does not start with the controller that answered")
	}
}

func TestAllControllersDown(t *testing.T) {
	a, b := deadEndpoint(t), deadEndpoint(t)
	_, err := New(a+","+b, "tok").Namespaces(context.Background())
	if err == nil || !strings.Contains(err.Error(), a) || !strings.Contains(err.Error(), b) {
		t.Fatalf("err = %v, want it to name both controllers", err)
	}
}

func TestAPIErrorIsNotRetriedElsewhere(t *testing.T) {
	var second int
	conflict := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusConflict)
		w.Write([]byte(`{"code":"conflict","message":"name taken"}`))
	}))
	defer conflict.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { second++ }))
	defer other.Close()
	_, err := New(conflict.URL+","+other.URL, "tok").CreateNamespace(context.Background(), "x.example.com", true)
	if !IsStatus(err, http.StatusConflict) || !strings.Contains(err.Error(), "name taken") || second != 0 {
		t.Fatalf("err = %v, second controller called %d times", err, second)
	}
}

func TestNextCursor(t *testing.T) {
	for _, tc := range []struct {
		link, want string
		fails      bool
	}{
		{"", "", false},
		{`</api/v1/shares?cursor=abc&limit=2>; rel="next"`, "abc", false},
		{`</api/v1/shares?cursor=abc>; rel="prev"`, "", true},
		{`</api/v1/shares?limit=2>; rel="next"`, "", true},
		{`/api/v1/shares?cursor=abc; rel="next"`, "", true},
	} {
		got, err := nextCursor(http.Header{"Link": {tc.link}})
		if got != tc.want || (err != nil) != tc.fails {
			t.Errorf("nextCursor(%q) = %q, %v; want %q, an error: %v", tc.link, got, err, tc.want, tc.fails)
		}
	}
}

// A controller that hands out the same next page again does not make the
// client list forever.
func TestSharesStopsOnARepeatedCursor(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", `</api/v1/shares?cursor=same>; rel="next"`)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`[]`))
	}))
	defer srv.Close()
	if _, err := New(srv.URL, "tok").Shares(context.Background()); err == nil || !strings.Contains(err.Error(), "same next page") {
		t.Errorf("Shares against a looping controller: %v, want an error", err)
	}
}
