// Package api is the small kit the admin REST API's handlers share, in
// whichever floor they live: JSON answers, error answers in the API's shape
// (through access.WriteError), strict JSON request bodies, pagination, and
// the OpenAPI 3 document merged from the fragments each area contributes
// (see Document).
//
// Lists take ?page_size=N (1–500, default 50) and ?page_token=T (the
// next_page_token of the previous page) and answer {"items": [...],
// "next_page_token": "..."}; the token is absent on the last page.
package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/errs"
)

// MaxBody is the largest JSON request body the API reads.
const MaxBody = 1 << 20

// WriteJSON answers status with v as JSON, never cached.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the status is sent: an error here has no one to go to
}

// Fail answers err in the API's error shape and logs what the client is
// not told.
func Fail(w http.ResponseWriter, r *http.Request, err error) {
	access.WriteError(w, r, nil, err)
}

// Decode reads r's JSON body into v strictly: one JSON value of at most
// MaxBody bytes, no unknown fields, nothing after it. Its errors say where
// the body is wrong in the body's own terms.
func Decode(r *http.Request, v any) error {
	if r.Body == nil || r.Body == http.NoBody {
		return errs.Invalidf("a JSON body is required")
	}
	body := http.MaxBytesReader(nil, r.Body, MaxBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errs.TooLargef("the JSON body is over the limit of %d bytes", MaxBody)
		}
		if errors.Is(err, io.EOF) {
			return errs.Invalidf("a JSON body is required")
		}
		return fmt.Errorf("JSON body: %w", errs.BadJSON(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errs.Invalidf("JSON body: one JSON object expected, found more after it")
	}
	return nil
}
