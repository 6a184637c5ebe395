package errs

import (
	"context"
	"encoding/json"
	"io/fs"
	"net"
	"os"
	"strings"
	"syscall"
)

// internalMessage is all a client learns of an internal error.
const internalMessage = "internal error"

// PublicMessage is the message safe to show a client: for a categorized
// error, its text, which packyard code wrote (the causes kept by Wrap are
// not part of it); a generic text for internal errors. Should an error
// from a driver, the network, the file system or a decoder have been
// wrapped with %w into a categorized error's text, the message falls back
// to the outermost text Wrap or a constructor such as Invalidf made, or to
// the category's name.
func PublicMessage(err error) string {
	cat := Category(err)
	if cat == nil {
		return internalMessage
	}
	if !hasForeign(err) {
		return err.Error()
	}
	msg := ""
	visible(err, func(e error) bool {
		if c, ok := e.(*categorized); ok {
			msg = c.msg
			return false
		}
		return true
	})
	if msg != "" {
		return msg
	}
	if cat == ErrTooLarge {
		return "too large"
	}
	return cat.Error()
}

// Message is err's text for a user where packyard's code wrote all of it:
// PublicMessage for a categorized error; for an uncategorized one, its
// text, or fallback when it wraps (with %w) an error of a driver, the
// network, the file system or a decoder. Use it only where an
// uncategorized error is known to be written for users (an upstream's HTTP
// status); errors of unknown origin are PublicMessage's "internal error".
func Message(err error, fallback string) string {
	if Category(err) != nil {
		return PublicMessage(err)
	}
	if hasForeign(err) {
		return fallback
	}
	return err.Error()
}

// hasForeign reports whether err's text may hold the text of an error that
// packyard did not write: one from a database driver, the network, the
// file system or encoding/json, wrapped with %w instead of Wrap.
func hasForeign(err error) bool {
	found := false
	visible(err, func(e error) bool {
		found = foreign(e)
		return !found
	})
	return found
}

func foreign(err error) bool {
	if err == context.Canceled || err == context.DeadlineExceeded {
		return false
	}
	switch err.(type) {
	case *json.SyntaxError, *json.UnmarshalTypeError, *json.InvalidUnmarshalError, *json.UnsupportedTypeError,
		*json.UnsupportedValueError, *json.MarshalerError,
		*fs.PathError, *os.LinkError, *os.SyscallError, syscall.Errno, *net.OpError, *net.DNSError,
		net.Error,                      // *url.Error and the other network errors
		interface{ SQLState() string }, // PostgreSQL drivers
		interface{ RedisError() }:
		return true
	}
	return false
}

// Detail renders err with every cause Wrap kept: the text for the log, never
// for a client.
func Detail(err error) string {
	if err == nil {
		return ""
	}
	if c, ok := err.(*categorized); ok {
		if c.cause == nil {
			return c.msg
		}
		return c.msg + ": " + Detail(c.cause)
	}
	var inner []error
	switch e := err.(type) {
	case interface{ Unwrap() error }:
		inner = []error{e.Unwrap()}
	case interface{ Unwrap() []error }:
		inner = e.Unwrap()
	}
	s := err.Error()
	for _, in := range inner {
		if in == nil {
			continue
		}
		short, long := in.Error(), Detail(in)
		if short == long {
			continue
		}
		if i := strings.LastIndex(s, short); i >= 0 && short != "" {
			s = s[:i] + long + s[i+len(short):]
		} else {
			s += " (" + long + ")"
		}
	}
	return s
}
