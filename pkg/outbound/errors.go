package outbound

import (
	"errors"
	"net/netip"
	"strings"

	"github.com/packyard/packyard/pkg/errs"
)

// Message is what a user is told when an outbound request was refused or
// failed, whatever the reason.
const Message = "the upstream could not be reached"

// Error is a refused or failed outbound request. Its message is Message and
// nothing else, so a user cannot learn from it whether an address was
// refused, a port closed or a host unknown; errors.Is matches both
// errs.ErrUnavailable and everything in the cause (a *RefusedError,
// context.Canceled, ...). Detail returns the cause's text for the logs.
type Error struct {
	cause error
}

func (e *Error) Error() string { return Message }

// Unwrap gives the category and the cause in the form errs.Wrap does, so
// that errs.PublicMessage answers Message and errs.Detail the cause.
func (e *Error) Unwrap() error { return errs.Wrap(errs.ErrUnavailable, Message, e.cause) }

// Unreachable wraps err, a failed request or a failed read of a response
// body, into an *Error; nil stays nil and an *Error is returned as is.
func Unreachable(err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{cause: err}
}

// Detail returns the full text of err for the logs: err's text with the
// generic Message of an *Error in its chain replaced by the cause's text
// (the URL, the address and the reason of a refusal, the dial error).
func Detail(err error) string {
	if err == nil {
		return ""
	}
	text := err.Error()
	var e *Error
	if !errors.As(err, &e) || e.cause == nil {
		return text
	}
	i := strings.LastIndex(text, Message)
	if i < 0 {
		return text + ": " + e.cause.Error()
	}
	return text[:i] + e.cause.Error() + text[i+len(Message):]
}

// RefusedError is a connection the policy did not allow.
type RefusedError struct {
	Addr   netip.Addr // the address the connection was for
	Reason string     // what the address is: "a loopback address"
}

func (e *RefusedError) Error() string {
	if !e.Addr.IsValid() {
		return "refused: " + e.Reason
	}
	return "refused: " + e.Addr.String() + " is " + e.Reason
}
