package errs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"
)

// driverError stands for a PostgreSQL driver's error: it names the host,
// the user and the constraint.
type driverError struct{}

func (driverError) Error() string {
	return `failed to connect to host=10.1.2.3 user=pyuser database=pydb: duplicate key value violates unique constraint "orgs_name_key" (SQLSTATE 23505)`
}
func (driverError) SQLState() string { return "23505" }

func dialError() error {
	return &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 5432},
		Err: errors.New("connect: connection refused")}
}

func TestWrapKeepsTheCauseOutOfTheMessage(t *testing.T) {
	cause := driverError{}
	err := Wrap(ErrAlreadyExists, "already exists", cause)
	require.Equal(t, "already exists", err.Error())
	require.ErrorIs(t, err, ErrAlreadyExists)
	require.ErrorIs(t, err, cause, "errors.Is reaches the cause")
	var de driverError
	require.ErrorAs(t, err, &de, "errors.As reaches the cause")
	require.Equal(t, ErrAlreadyExists, Category(err))
	require.Equal(t, http.StatusConflict, HTTPStatus(err))

	outer := fmt.Errorf("organization %q: %w", "acme", err)
	require.Equal(t, `organization "acme": already exists`, PublicMessage(outer))
	require.Equal(t, `organization "acme": already exists: `+cause.Error(), Detail(outer))

	require.Equal(t, "plain", Wrap(ErrInvalidArgument, "plain", nil).Error())
	require.Equal(t, "plain", Detail(Wrap(ErrInvalidArgument, "plain", nil)))
}

func TestCategoryIgnoresTheCausesCategory(t *testing.T) {
	// A lookup that found nothing, reported as the store being down, is
	// unavailable: the cause's category does not leak into the answer.
	err := Wrap(ErrUnavailable, "database unavailable", fmt.Errorf("row: %w", ErrNotFound))
	require.Equal(t, ErrUnavailable, Category(err))
	require.Equal(t, http.StatusServiceUnavailable, HTTPStatus(err))
	require.Equal(t, connect.CodeUnavailable, ConnectCode(err))
}

func TestDetailNestsThroughWrappers(t *testing.T) {
	inner := Wrap(ErrUnavailable, "database unavailable", dialError())
	err := fmt.Errorf("token %s: %w", "abc", fmt.Errorf("look up: %w", inner))
	require.Equal(t, "token abc: look up: database unavailable", err.Error())
	require.Equal(t, "token abc: look up: database unavailable", PublicMessage(err))
	d := Detail(err)
	require.True(t, strings.HasPrefix(d, "token abc: look up: database unavailable: dial tcp 10.1.2.3:5432"), d)
	require.Contains(t, d, "connection refused")

	joined := errors.Join(errors.New("first"), inner)
	require.Contains(t, Detail(joined), "dial tcp 10.1.2.3:5432")
	require.Equal(t, "", Detail(nil))
}

// Lower-level errors wrapped with %w into a categorized error's text are
// never shown: the message falls back to what packyard code wrote.
func TestPublicMessageDropsForeignText(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("redis get: %w: %w", ErrUnavailable, dialError()), "unavailable"},
		{fmt.Errorf("put: %w: %w", ErrUnavailable, &fs.PathError{Op: "open", Path: "/var/lib/packyard/blobs/x", Err: fs.ErrPermission}), "unavailable"},
		{fmt.Errorf("org: %w", fmt.Errorf("%w: %w", Wrap(ErrAlreadyExists, "organization exists", nil), driverError{})), "organization exists"},
		{fmt.Errorf("decode: %w: %w", ErrInvalidArgument, &json.SyntaxError{Offset: 3}), "invalid argument"},
		{fmt.Errorf("body: %w: %w", ErrTooLarge, dialError()), "too large"},
	} {
		got := PublicMessage(tc.err)
		require.Equal(t, tc.want, got, tc.err.Error())
		require.NotContains(t, got, "10.1.2.3")
	}
	// Context errors are not foreign: their text says nothing about the system.
	err := fmt.Errorf("upstream: %w: %w", ErrUnavailable, errors.Join(errors.New("gave up")))
	require.Equal(t, err.Error(), PublicMessage(err))
}

func TestToConnectCleansConnectErrors(t *testing.T) {
	ce := connect.NewError(connect.CodeUnavailable, fmt.Errorf("dial: %w", dialError()))
	ce.Meta().Set("X-Custom", "kept")
	var got *connect.Error
	require.ErrorAs(t, ToConnect(ce), &got)
	require.Equal(t, connect.CodeUnavailable, got.Code())
	require.NotContains(t, got.Message(), "10.1.2.3")
	require.Equal(t, "kept", got.Meta().Get("X-Custom"))

	mine := connect.NewError(connect.CodeInvalidArgument, errors.New("ref must not be empty"))
	require.Same(t, mine, ToConnect(fmt.Errorf("wrapped: %w", mine)))

	require.ErrorAs(t, ToConnect(Wrap(ErrUnavailable, "database unavailable", driverError{})), &got)
	require.Equal(t, "database unavailable", got.Message())
	require.ErrorAs(t, got, new(driverError), "the cause stays reachable for the log")
	require.Contains(t, Detail(got), "SQLSTATE 23505")
	require.Equal(t, ErrUnavailable, Category(got))
	require.Same(t, got, ToConnect(got), "converted once")

	require.ErrorAs(t, ToConnect(errors.New("open /var/lib/packyard/x: disk full")), &got)
	require.Equal(t, connect.CodeInternal, got.Code())
	require.Equal(t, "internal error", got.Message())
	require.Contains(t, Detail(got), "disk full")
	require.Nil(t, Category(got))
}

type lockPackage struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

func TestBadJSON(t *testing.T) {
	decode := func(doc string) error {
		var v struct {
			Packages []lockPackage `json:"packages"`
			Count    int           `json:"count"`
		}
		return BadJSON(json.Unmarshal([]byte(doc), &v))
	}
	for doc, want := range map[string]string{
		`{"packages": [}`:                           "invalid JSON at byte 15",
		`[1, 2]`:                                    "invalid JSON: expected an object, got array",
		`{"packages": {}}`:                          `invalid JSON: field "packages": expected an array, got object`,
		`{"packages": [{"name": 1}]}`:               `invalid JSON: field "packages.name": expected a string, got number`,
		`{"count": "many"}`:                         `invalid JSON: field "count": expected a number, got string`,
		`{"count": 1e400}`:                          `invalid JSON: field "count": expected a number, got number`,
		`{"packages": [{"version": ["1.0"]}]}`:      `invalid JSON: field "packages.version": expected a string, got array`,
		`{"packages": [{"version": true}], "x": 1}`: `invalid JSON: field "packages.version": expected a string, got bool`,
	} {
		err := decode(doc)
		require.ErrorIs(t, err, ErrInvalidArgument, doc)
		require.Equal(t, want, PublicMessage(err), doc)
		require.NotContains(t, PublicMessage(err), "Go ", doc)
		require.Contains(t, Detail(err), PublicMessage(err)+": ", "the decoder's text stays in the log")
	}

	var v map[string]string
	err := BadJSON(json.NewDecoder(strings.NewReader("")).Decode(&v))
	require.Equal(t, "invalid JSON: the document ends early (or is empty)", PublicMessage(err))
	err = BadJSON(json.NewDecoder(strings.NewReader(`{"a":`)).Decode(&v))
	require.Equal(t, "invalid JSON: the document ends early (or is empty)", PublicMessage(err))

	require.NoError(t, BadJSON(nil))
	mine := Invalidf("version %q is not a version", "x")
	require.Same(t, mine, BadJSON(mine), "categorized errors pass")
	mbe := &http.MaxBytesError{Limit: 10}
	require.Same(t, mbe, BadJSON(mbe), "the body limit keeps its own answer")
	require.Equal(t, "not a JSON object", PublicMessage(BadJSON(errors.New("not a JSON object"))), "the caller's own text")
	require.ErrorIs(t, BadJSON(errors.New("not a JSON object")), ErrInvalidArgument)
	dec := json.NewDecoder(strings.NewReader(`{"url": "x", "nmae": 1}`))
	dec.DisallowUnknownFields()
	var up struct {
		URL string `json:"url"`
	}
	require.Equal(t, `invalid JSON: unknown field "nmae"`, PublicMessage(BadJSON(dec.Decode(&up))))
	require.Equal(t, "invalid JSON", PublicMessage(BadJSON(fmt.Errorf("read body: %w", dialError()))))
	require.Equal(t, "invalid JSON", PublicMessage(BadJSON(fmt.Errorf("key %q: json: cannot unmarshal number into Go value of type string", "a"))))
}

func TestMessage(t *testing.T) {
	require.Equal(t, "GET https://repo.example/packages.json: HTTP 401", Message(errors.New("GET https://repo.example/packages.json: HTTP 401"), "unreachable"))
	require.Equal(t, "unreachable", Message(fmt.Errorf("GET https://repo.example/packages.json: %w", dialError()), "unreachable"))
	require.Equal(t, "database unavailable", Message(Wrap(ErrUnavailable, "database unavailable", driverError{}), "unreachable"))
}
