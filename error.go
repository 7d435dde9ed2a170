package zan

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Error codes. They are the codes of the HTTP contract; httpapi maps each to
// a status in one table.
const (
	EBadRequest   = "bad_request"
	EUnauthorized = "unauthorized"
	EForbidden    = "forbidden"
	ENotFound     = "not_found"
	// EMethodNotAllowed: the path exists, the method does not (405 with
	// Allow).
	EMethodNotAllowed = "method_not_allowed"
	EConflict         = "conflict"
	ESoldOut          = "sold_out"
	ETooLarge         = "too_large"
	ERateLimited      = "rate_limited"
	EUnavailable      = "unavailable"
	EInternal         = "internal"
)

// Error is an error that carries one of the codes above and a message fit to
// show a client. Errors without a code are internal: their text is logged,
// never shown.
type Error struct {
	Code    string
	Message string
	// RetryAfter is set with ERateLimited: how long until a retry can pass.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *Error with the given code.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// RateLimited returns an ERateLimited error that asks to retry after d.
func RateLimited(d time.Duration, format string, args ...any) *Error {
	e := Errorf(ERateLimited, format, args...)
	e.RetryAfter = d
	return e
}

// ErrorCode returns the code of err, EInternal for an error without one and
// "" for nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	case errors.Is(err, ErrUnavailable):
		return EUnavailable
	}
	return EInternal
}

// ErrorMessage returns the client-facing message of err.
func ErrorMessage(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Message
	case errors.Is(err, ErrUnavailable):
		return "a dependency is unavailable; nothing was changed, try again"
	}
	return "internal error"
}

// IsNotFound reports whether err carries ENotFound.
func IsNotFound(err error) bool { return ErrorCode(err) == ENotFound }

// ErrUnavailable is wrapped by adapters when their backend cannot be reached
// and the operation was not carried out.
var ErrUnavailable = errors.New("zan: dependency unavailable")

// ErrNotLoaded is returned by a LikeState when the target is not in the hot
// state; the caller loads it from the store and tries again.
var ErrNotLoaded = errors.New("zan: target not in the hot state")

// Unavailable wraps err from the dependency named what so that it carries
// EUnavailable, unless err already carries a code or is a cancellation.
func Unavailable(what string, err error) error {
	var e *Error
	if err == nil || errors.As(err, &e) || errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("%s: %w: %w", what, ErrUnavailable, err)
}
