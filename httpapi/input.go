package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/zanlabs/zan"
)

// Every text a client sends must be valid UTF-8 without NUL: a NUL cuts C
// strings short in whatever reads the store later, and invalid UTF-8 is
// either rejected by the store or silently replaced, so that a client
// would read back something else than it wrote.

// checkText refuses a body that is not valid UTF-8, or whose JSON strings
// escape a NUL or half a surrogate pair (which decoding would turn into
// U+FFFD without a word).
func checkText(b []byte) error {
	if !utf8.Valid(b) {
		return zan.Errorf(zan.EBadRequest, "request body is not valid UTF-8")
	}
	if bytes.IndexByte(b, 0) >= 0 {
		return zan.Errorf(zan.EBadRequest, "request body contains a NUL character")
	}
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		i++ // the escaped character: never the start of another escape
		if i >= len(b) || b[i] != 'u' {
			continue
		}
		v, ok := hex4(b[i+1:])
		switch {
		case !ok:
			continue // malformed: the JSON decoder says so
		case v == 0:
			return zan.Errorf(zan.EBadRequest, `request body contains a NUL character (\u0000)`)
		case v >= 0xDC00 && v <= 0xDFFF:
			return zan.Errorf(zan.EBadRequest, "request body contains half a UTF-16 surrogate pair")
		case v >= 0xD800 && v <= 0xDBFF:
			lo, ok := uint16(0), false
			if rest := b[i+5:]; len(rest) >= 6 && rest[0] == '\\' && rest[1] == 'u' {
				lo, ok = hex4(rest[2:])
			}
			if !ok || lo < 0xDC00 || lo > 0xDFFF {
				return zan.Errorf(zan.EBadRequest, "request body contains half a UTF-16 surrogate pair")
			}
			i += 6
		}
		i += 4
	}
	return nil
}

func hex4(b []byte) (uint16, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var v uint16
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		v = v<<4 | uint16(c)
	}
	return v, true
}

// checkURLText refuses a path or query that decodes to invalid UTF-8 or a
// NUL.
func checkURLText(path string, q url.Values) error {
	bad := func(s string) bool { return !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 }
	if bad(path) {
		return zan.Errorf(zan.EBadRequest, "the path is not valid UTF-8 or contains a NUL character")
	}
	for k, vs := range q {
		if bad(k) {
			return zan.Errorf(zan.EBadRequest, "a query parameter name is not valid UTF-8 or contains a NUL character")
		}
		for _, v := range vs {
			if bad(v) {
				return zan.Errorf(zan.EBadRequest, "query parameter %q is not valid UTF-8 or contains a NUL character", k)
			}
		}
	}
	return nil
}

// jsonError rewrites a decoding error for a client: in JSON's words, never
// Go's (no Go type or struct names).
func jsonError(err error) error {
	var (
		ze  *zan.Error
		se  *json.SyntaxError
		te  *json.UnmarshalTypeError
		tpe *time.ParseError
	)
	switch {
	case errors.As(err, &ze):
		return ze
	case errors.As(err, &se):
		return zan.Errorf(zan.EBadRequest, "invalid JSON body at byte %d: %s", se.Offset, clipMsg(se.Error()))
	case errors.As(err, &te):
		want := jsonKind(te.Type)
		if te.Field == "" {
			return zan.Errorf(zan.EBadRequest, "the JSON body must be %s; got %s", want, withArticle(te.Value))
		}
		// Field is the path of JSON names ("a.b"), Struct the Go type: left out.
		return zan.Errorf(zan.EBadRequest, "field %q must be %s; got %s", clipMsg(te.Field), want, withArticle(te.Value))
	case errors.As(err, &tpe):
		return zan.Errorf(zan.EBadRequest, "invalid time %q: want RFC 3339, e.g. 2026-11-22T23:19:13Z", clipMsg(tpe.Value))
	}
	return zan.Errorf(zan.EBadRequest, "invalid value in the JSON body")
}

// withArticle: "array" -> "an array", "number 1.5" -> "a number 1.5".
func withArticle(v string) string {
	if strings.HasPrefix(v, "a") || strings.HasPrefix(v, "o") {
		return "an " + clipMsg(v)
	}
	return "a " + clipMsg(v)
}

// jsonKind names what a Go type holds in JSON's terms.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == reflect.TypeFor[time.Time]() || t == reflect.TypeFor[Time]() {
		return "an RFC 3339 time string"
	}
	if t == reflect.TypeFor[ID]() {
		return "an id (a string of digits)"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return fmt.Sprintf("an integer (%d-bit)", t.Bits())
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "a value"
}

// bufferBody reads a body of unknown length (chunked) up to the limit
// before the handler runs, so that a chunked body over the limit is
// refused with 413 like a declared one, whether or not the route reads
// its body.
func bufferBody(r *http.Request) error {
	if r.ContentLength >= 0 || r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	b, err := readBody(r)
	if err != nil {
		return err
	}
	r.Body = readCloser{bytes.NewReader(b)}
	r.ContentLength = int64(len(b))
	return nil
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }
