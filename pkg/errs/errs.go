// Package errs holds packyard's error categories, their mapping to HTTP
// status codes and Connect codes, and the split between what a client is
// told and what the log keeps. Packages wrap a category with %w, or with
// Wrap when a lower-level error (a driver's, the network's, a decoder's) is
// the cause; the edges (Echo's error handler, the Connect interceptor, the
// auth middleware) map the category once, answer PublicMessage and log
// Detail.
package errs

import (
	"errors"
	"fmt"
	"net/http"

	"connectrpc.com/connect"
)

// Categories. Wrap them: fmt.Errorf("package %q: %w", name, errs.ErrNotFound).
var (
	ErrNotFound           = errors.New("not found")
	ErrAlreadyExists      = errors.New("already exists")
	ErrInvalidArgument    = errors.New("invalid argument")
	ErrTooLarge           = fmt.Errorf("too large: %w", ErrInvalidArgument)
	ErrUnauthenticated    = errors.New("unauthenticated")
	ErrPermissionDenied   = errors.New("permission denied")
	ErrFailedPrecondition = errors.New("failed precondition")
	ErrUnavailable        = errors.New("unavailable")
	ErrResourceExhausted  = errors.New("resource exhausted")
)

// Invalidf returns an ErrInvalidArgument with a message for the user.
func Invalidf(format string, args ...any) error {
	return &categorized{msg: fmt.Sprintf(format, args...), cat: ErrInvalidArgument}
}

// NotFoundf returns an ErrNotFound with a message for the user.
func NotFoundf(format string, args ...any) error {
	return &categorized{msg: fmt.Sprintf(format, args...), cat: ErrNotFound}
}

// AlreadyExistsf returns an ErrAlreadyExists with a message for the user.
func AlreadyExistsf(format string, args ...any) error {
	return &categorized{msg: fmt.Sprintf(format, args...), cat: ErrAlreadyExists}
}

// PreconditionFailedf returns an ErrFailedPrecondition with a message for the user.
func PreconditionFailedf(format string, args ...any) error {
	return &categorized{msg: fmt.Sprintf(format, args...), cat: ErrFailedPrecondition}
}

// PermissionDeniedf returns an ErrPermissionDenied with a message for the user.
func PermissionDeniedf(format string, args ...any) error {
	return &categorized{msg: fmt.Sprintf(format, args...), cat: ErrPermissionDenied}
}

// Unavailablef returns an ErrUnavailable with a message for the user.
func Unavailablef(format string, args ...any) error {
	return &categorized{msg: fmt.Sprintf(format, args...), cat: ErrUnavailable}
}

// TooLargef returns an ErrTooLarge (an invalid argument) with a message for the user.
func TooLargef(format string, args ...any) error {
	return &categorized{msg: fmt.Sprintf(format, args...), cat: ErrTooLarge}
}

// Wrap returns an error of category cat whose message, the one a client
// may see, is msg, written for users; cause is the lower-level error (a
// driver's, the network's) kept for the log (Detail) and for errors.Is and
// errors.As, never shown to clients. A nil cause makes a plain categorized
// error.
func Wrap(cat error, msg string, cause error) error {
	return &categorized{msg: msg, cat: cat, cause: cause}
}

// categorized is an error whose message is meant for the client and whose
// category is matched by errors.Is without appearing in the message. Its
// cause, if any, is reachable through Unwrap but is not part of Error.
type categorized struct {
	msg   string
	cat   error
	cause error
}

func (e *categorized) Error() string { return e.msg }

func (e *categorized) Unwrap() []error {
	out := make([]error, 0, 2)
	for _, err := range []error{e.cat, e.cause} {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

// categories in the order Category prefers them.
var categories = []error{ErrTooLarge, ErrNotFound, ErrAlreadyExists, ErrInvalidArgument,
	ErrUnauthenticated, ErrPermissionDenied, ErrFailedPrecondition, ErrUnavailable, ErrResourceExhausted}

// Category returns the category sentinel err belongs to, or nil. The causes
// kept by Wrap do not count: a database error that was a "not found" and is
// wrapped as unavailable is unavailable.
func Category(err error) error {
	var found []error
	visible(err, func(e error) bool {
		for _, c := range categories {
			if e == c {
				found = append(found, c)
			}
		}
		return true
	})
	for _, c := range categories {
		for _, f := range found {
			if f == c {
				return c
			}
		}
	}
	return nil
}

// visible calls fn for err and every error it wraps, outermost first,
// except the causes kept by Wrap; fn returns false to stop.
func visible(err error, fn func(error) bool) bool {
	if err == nil {
		return true
	}
	if !fn(err) {
		return false
	}
	switch e := err.(type) {
	case *categorized:
		return visible(e.cat, fn)
	case interface{ Unwrap() error }:
		return visible(e.Unwrap(), fn)
	case interface{ Unwrap() []error }:
		for _, inner := range e.Unwrap() {
			if !visible(inner, fn) {
				return false
			}
		}
	}
	return true
}

// HTTPStatus maps an error's category to an HTTP status; unknown errors are 500.
func HTTPStatus(err error) int {
	switch Category(err) {
	case ErrTooLarge:
		return http.StatusRequestEntityTooLarge
	case ErrNotFound:
		return http.StatusNotFound
	case ErrAlreadyExists:
		return http.StatusConflict
	case ErrInvalidArgument:
		return http.StatusBadRequest
	case ErrUnauthenticated:
		return http.StatusUnauthorized
	case ErrPermissionDenied:
		return http.StatusForbidden
	case ErrFailedPrecondition:
		return http.StatusConflict
	case ErrUnavailable:
		return http.StatusServiceUnavailable
	case ErrResourceExhausted:
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}

// RetryAfter is the Retry-After (seconds) of every answer refused because a
// dependency (the database, the blob store, an upstream) is unavailable:
// HTTP 503 and Connect's Unavailable. Such a refusal is temporary; the
// client should try again.
const RetryAfter = "5"

// SetRetryAfter adds Retry-After to the headers of an answer with status
// 503, the status of ErrUnavailable.
func SetRetryAfter(h http.Header, status int) {
	if status == http.StatusServiceUnavailable {
		h.Set("Retry-After", RetryAfter)
	}
}

// ConnectCode maps an error's category to a Connect code; unknown errors are CodeInternal.
func ConnectCode(err error) connect.Code {
	switch Category(err) {
	case ErrNotFound:
		return connect.CodeNotFound
	case ErrAlreadyExists:
		return connect.CodeAlreadyExists
	case ErrInvalidArgument, ErrTooLarge:
		return connect.CodeInvalidArgument
	case ErrUnauthenticated:
		return connect.CodeUnauthenticated
	case ErrPermissionDenied:
		return connect.CodePermissionDenied
	case ErrFailedPrecondition:
		return connect.CodeFailedPrecondition
	case ErrUnavailable:
		return connect.CodeUnavailable
	case ErrResourceExhausted:
		return connect.CodeResourceExhausted
	}
	return connect.CodeInternal
}

// ToConnect converts err into a *connect.Error with the mapped code and the
// public message; err stays reachable through Unwrap (for Detail and the
// log), not in the message. A *connect.Error passes through with its code,
// details and metadata, except that internal ones say "internal error" as
// HTTP answers do, and one that wraps a driver's, the network's or a
// decoder's error says its code's name.
func ToConnect(err error) error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		if ce.Code() == connect.CodeUnavailable && ce.Meta().Get("Retry-After") == "" {
			ce.Meta().Set("Retry-After", RetryAfter)
		}
		msg := ce.Code().String()
		switch ce.Code() {
		case connect.CodeInternal, connect.CodeUnknown, connect.CodeDataLoss:
			msg = internalMessage
		}
		if ce.Message() == msg || (msg != internalMessage && !hasForeign(ce.Unwrap())) {
			return ce
		}
		clean := connect.NewError(ce.Code(), &categorized{msg: msg, cause: ce.Unwrap()})
		for _, d := range ce.Details() {
			clean.AddDetail(d)
		}
		for k, v := range ce.Meta() {
			clean.Meta()[k] = v
		}
		return clean
	}
	out := connect.NewError(ConnectCode(err), &categorized{msg: PublicMessage(err), cat: Category(err), cause: err})
	if out.Code() == connect.CodeUnavailable {
		out.Meta().Set("Retry-After", RetryAfter)
	}
	return out
}
