package client

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Count is a target's count as the live stream sends it.
type Count struct {
	Type  string `json:"type"`
	ID    ID     `json:"id"`
	Count int64  `json:"count"`
}

// Stream follows the live counts of up to 200 targets: every target's
// count at once, then its changes (made on any node), at most one per
// target per 250 ms.
//
// As a browser's EventSource does, it connects again when the connection
// drops or the server answers 503 or 429, waiting the client's backoff or
// what the server asks for. The counts come again on every connection, and
// they are absolute, so a change missed in between is repaired. Another
// error answer (400 for a bad list, 404 for an unknown type) is yielded and
// ends the stream. It ends without an error when ctx ends or the loop
// breaks.
func (c *Client) Stream(ctx context.Context, targets []Target) iter.Seq2[Count, error] {
	u := c.base + "/api/v1/likes/stream?" + url.Values{"targets": {targetList(targets)}}.Encode()
	h := *c.http
	h.Timeout = 0 // a stream lasts as long as ctx, not as long as a call
	return func(yield func(Count, error) bool) {
		delay := c.backoff
		for {
			res, err := c.send(ctx, &h, "GET", u, nil)
			if err == nil && res.StatusCode == http.StatusOK {
				s := sse{yield: yield}
				err = s.read(res.Body)
				res.Body.Close()
				if s.stopped {
					return
				}
				if s.decodeErr != nil {
					yield(Count{}, s.decodeErr)
					return
				}
				if s.events > 0 {
					delay = c.backoff // the connection worked: start the backoff over
				}
				if s.retry > 0 {
					delay = s.retry
				}
				err = &transportError{fmt.Errorf("zan: live stream ended: %w", orEOF(err))}
			} else if err == nil {
				b, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
				res.Body.Close()
				err = apiError(res, b)
			}
			if ctx.Err() != nil {
				return
			}
			if !retryable(err) {
				yield(Count{}, err)
				return
			}
			wait := delay
			if e, ok := err.(*Error); ok && e.RetryAfter > wait {
				wait = e.RetryAfter
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			delay = min(2*delay, c.maxWait)
		}
	}
}

func orEOF(err error) error {
	if err == nil {
		return io.EOF
	}
	return err
}

func targetList(ts []Target) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = t.Type + ":" + idPath(t.ID)
	}
	return strings.Join(parts, ",")
}

// sse reads one connection's server-sent events (the text/event-stream
// format of the HTML standard) and yields the count events.
type sse struct {
	yield     func(Count, error) bool
	events    int
	retry     time.Duration // the server's "retry:" field, if any
	stopped   bool          // the caller broke out of its loop
	decodeErr error
}

func (s *sse) read(r io.Reader) error {
	sc := bufio.NewScanner(r)
	var event string
	var data strings.Builder
	for sc.Scan() {
		line := sc.Text()
		if line == "" { // the end of an event
			if data.Len() > 0 && event == "count" && !s.dispatch(data.String()) {
				return nil
			}
			event = ""
			data.Reset()
			continue
		}
		if line[0] == ':' { // a comment: the keep-alive
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			event = value
		case "data":
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(value)
		case "retry":
			if ms, err := strconv.Atoi(value); err == nil && ms > 0 {
				s.retry = time.Duration(ms) * time.Millisecond
			}
		}
	}
	return sc.Err()
}

// dispatch yields one event; false ends the reading.
func (s *sse) dispatch(data string) bool {
	var c Count
	if err := json.Unmarshal([]byte(data), &c); err != nil {
		s.decodeErr = fmt.Errorf("zan: live stream event %q: %w", data, err)
		return false
	}
	s.events++
	if !s.yield(c, nil) {
		s.stopped = true
		return false
	}
	return true
}
