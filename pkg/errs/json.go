package errs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
)

// BadJSON turns an error from encoding/json into an ErrInvalidArgument that
// says where the document is wrong in the document's own terms — "invalid
// JSON at byte 12", `field "packages.0.version": expected a string, got
// number` — and never names a Go type; the decoder's text stays the cause,
// for the log. Errors that already carry a category, and nil, pass
// unchanged, and so do a body over its size limit and cancellation. Other
// errors (the caller's own parser's, an UnmarshalJSON method's) keep their
// text unless it comes from encoding/json or the network.
func BadJSON(err error) error {
	if err == nil || Category(err) != nil {
		return err
	}
	var (
		syntax  *json.SyntaxError
		typeErr *json.UnmarshalTypeError
		invalid *json.InvalidUnmarshalError
	)
	switch {
	case errors.As(err, &syntax):
		return Wrap(ErrInvalidArgument, fmt.Sprintf("invalid JSON at byte %d", syntax.Offset), err)
	case errors.As(err, &typeErr):
		want, got := jsonKind(typeErr.Type), typeErr.Value
		if i := strings.IndexByte(got, ' '); i > 0 {
			got = got[:i] // "number -1" names the value; the kind is enough
		}
		if typeErr.Field == "" {
			return Wrap(ErrInvalidArgument, fmt.Sprintf("invalid JSON: expected %s, got %s", want, got), err)
		}
		return Wrap(ErrInvalidArgument, fmt.Sprintf("invalid JSON: field %q: expected %s, got %s", typeErr.Field, want, got), err)
	case errors.As(err, &invalid):
		return err // a programming error: internal
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return Wrap(ErrInvalidArgument, "invalid JSON: the document ends early (or is empty)", err)
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	text := err.Error()
	if i := strings.Index(text, unknownField); i >= 0 {
		return Wrap(ErrInvalidArgument, "invalid JSON: unknown field "+text[i+len(unknownField):], err)
	}
	if hasForeign(err) || strings.Contains(text, "json: ") {
		// Other complaints of the decoder, or a body that could not be read.
		return Wrap(ErrInvalidArgument, "invalid JSON", err)
	}
	// The caller's own parser ("not a JSON object") or an UnmarshalJSON
	// method wrote the text for the user.
	return Wrap(ErrInvalidArgument, text, err)
}

// unknownField starts encoding/json's complaint under DisallowUnknownFields;
// the field's name, which the client sent, follows.
const unknownField = "json: unknown field "

// jsonKind names, in JSON's terms, what a Go type decodes from.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "a base64 string"
		}
		return "an array"
	case reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "a value"
}
