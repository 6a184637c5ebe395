// Package errs holds packyard's error categories and their mapping to HTTP
// status codes and Connect codes. Packages wrap a category with %w; the edges
// (Echo's error handler, the Connect interceptor, the auth middleware) map the
// category once, here.
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

// categorized is an error whose message is meant for the client and whose
// category is matched by errors.Is without appearing in the message.
type categorized struct {
	msg string
	cat error
}

func (e *categorized) Error() string { return e.msg }
func (e *categorized) Unwrap() error { return e.cat }

// Category returns the category sentinel err belongs to, or nil.
func Category(err error) error {
	for _, c := range []error{ErrTooLarge, ErrNotFound, ErrAlreadyExists, ErrInvalidArgument,
		ErrUnauthenticated, ErrPermissionDenied, ErrFailedPrecondition, ErrUnavailable, ErrResourceExhausted} {
		if errors.Is(err, c) {
			return c
		}
	}
	return nil
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

// PublicMessage is the message safe to show a client: the error text for
// categorized errors, a generic text for internal ones.
func PublicMessage(err error) string {
	if Category(err) == nil {
		return "internal error"
	}
	return err.Error()
}

// ToConnect converts err into a *connect.Error with the mapped code. A
// *connect.Error passes through unchanged.
func ToConnect(err error) error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return err
	}
	return connect.NewError(ConnectCode(err), errors.New(PublicMessage(err)))
}
