package sms

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestLogSender(t *testing.T) {
	var buf bytes.Buffer
	s := LogSender{Logger: slog.New(slog.NewTextHandler(&buf, nil))}
	if err := s.Send(t.Context(), "13800138000", "123456"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "code=123456") {
		t.Fatalf("log: %s", buf.String())
	}
}

func TestWebhook(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		wantErr bool
	}{
		{"ok", http.StatusOK, false},
		{"accepted", http.StatusAccepted, false},
		{"gateway error", http.StatusBadGateway, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got map[string]string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Content-Type") != "application/json" {
					t.Errorf("content type %q", r.Header.Get("Content-Type"))
				}
				json.NewDecoder(r.Body).Decode(&got)
				w.WriteHeader(tc.status)
			}))
			defer srv.Close()
			err := NewWebhook(srv.URL).Send(t.Context(), "+8613800138000", "654321")
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if got["phone"] != "+8613800138000" || got["code"] != "654321" {
				t.Fatalf("gateway got %v", got)
			}
		})
	}
}

func TestWebhookUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	if err := NewWebhook(url).Send(t.Context(), "13800138000", "1"); err == nil {
		t.Fatal("no error from a closed gateway")
	}
}
