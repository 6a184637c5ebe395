package errs

import "net/http"

// Codes of the admin API's error answers ({"error": {"code": …}}): stable
// strings clients may branch on.
const (
	CodeNotFound           = "not_found"
	CodeAlreadyExists      = "already_exists"
	CodeInvalidArgument    = "invalid_argument"
	CodeTooLarge           = "too_large"
	CodeUnauthenticated    = "unauthenticated"
	CodePermissionDenied   = "permission_denied"
	CodeFailedPrecondition = "failed_precondition"
	CodeUnavailable        = "unavailable"
	CodeResourceExhausted  = "resource_exhausted"
	CodeMethodNotAllowed   = "method_not_allowed"
	CodeTimeout            = "timeout"
	CodeInternal           = "internal"
)

// Code maps an error's category to the admin API's error code; unknown
// errors are "internal".
func Code(err error) string {
	switch Category(err) {
	case ErrTooLarge:
		return CodeTooLarge
	case ErrNotFound:
		return CodeNotFound
	case ErrAlreadyExists:
		return CodeAlreadyExists
	case ErrInvalidArgument:
		return CodeInvalidArgument
	case ErrUnauthenticated:
		return CodeUnauthenticated
	case ErrPermissionDenied:
		return CodePermissionDenied
	case ErrFailedPrecondition:
		return CodeFailedPrecondition
	case ErrUnavailable:
		return CodeUnavailable
	case ErrResourceExhausted:
		return CodeResourceExhausted
	}
	return CodeInternal
}

// StatusCode is the admin API's error code for an answer known only by its
// HTTP status (a router's 404 or 405, a body limit, a timeout). A 409
// reads "already_exists".
func StatusCode(status int) string {
	switch status {
	case http.StatusNotFound:
		return CodeNotFound
	case http.StatusConflict:
		return CodeAlreadyExists
	case http.StatusBadRequest:
		return CodeInvalidArgument
	case http.StatusRequestEntityTooLarge:
		return CodeTooLarge
	case http.StatusUnauthorized:
		return CodeUnauthenticated
	case http.StatusForbidden:
		return CodePermissionDenied
	case http.StatusServiceUnavailable:
		return CodeUnavailable
	case http.StatusTooManyRequests:
		return CodeResourceExhausted
	case http.StatusMethodNotAllowed:
		return CodeMethodNotAllowed
	case http.StatusRequestTimeout:
		return CodeTimeout
	}
	return CodeInternal
}
