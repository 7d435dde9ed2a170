// Package sms sends login codes: to the server log by default, or to an
// SMS gateway through a webhook.
package sms

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// LogSender writes codes to the log. It is for development and demos: the
// server says so when it starts.
type LogSender struct{ Logger *slog.Logger }

// Send logs the code.
func (s LogSender) Send(ctx context.Context, phone, code string) error {
	s.Logger.InfoContext(ctx, "sms code (log sender: not really sent)", "phone", phone, "code", code)
	return nil
}

// Webhook posts {"phone":"...","code":"..."} to URL; any 2xx is success.
type Webhook struct {
	URL    string
	Client *http.Client
}

// NewWebhook returns a webhook sender with a 5 s timeout.
func NewWebhook(url string) *Webhook {
	return &Webhook{URL: url, Client: &http.Client{Timeout: 5 * time.Second}}
}

// Send posts the code to the gateway.
func (w *Webhook) Send(ctx context.Context, phone, code string) error {
	body, _ := json.Marshal(map[string]string{"phone": phone, "code": code})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.Client.Do(req)
	if err != nil {
		return fmt.Errorf("sms webhook: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("sms webhook: status %d", resp.StatusCode)
	}
	return nil
}
