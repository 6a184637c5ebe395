package api

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/pkg/errs"
)

func TestPages(t *testing.T) {
	items := []int{0, 1, 2, 3, 4}
	p, err := ParsePage(url.Values{"page_size": {"2"}})
	require.NoError(t, err)
	var seen []int
	for {
		l := Slice(items, p)
		seen = append(seen, l.Items...)
		if l.NextPageToken == "" {
			break
		}
		p, err = ParsePage(url.Values{"page_size": {"2"}, "page_token": {l.NextPageToken}})
		require.NoError(t, err)
	}
	require.Equal(t, items, seen)
	require.Equal(t, List[int]{Items: []int{}}, Slice(items, Page{Size: 2, Offset: 9}))
	require.Equal(t, List[int]{Items: []int{0, 1}, NextPageToken: Token(2)}, More([]int{0, 1, 2}, Page{Size: 2}))
	require.Equal(t, List[int]{Items: []int{0, 1}}, More([]int{0, 1}, Page{Size: 2}))

	for _, bad := range []url.Values{{"page_size": {"0"}}, {"page_size": {"501"}}, {"page_size": {"x"}},
		{"page_token": {"!!"}}, {"page_token": {"eDE"}}, {"page_token": {Token(-1)}}} {
		_, err := ParsePage(bad)
		require.ErrorIs(t, err, errs.ErrInvalidArgument, bad)
	}
}

func TestDecode(t *testing.T) {
	var v struct {
		Name string `json:"name"`
	}
	for body, want := range map[string]error{
		`{"name":"a"}`:       nil,
		``:                   errs.ErrInvalidArgument,
		`{"name":"a","x":1}`: errs.ErrInvalidArgument,
		`{"name":5}`:         errs.ErrInvalidArgument,
		`{"name":"a"} {}`:    errs.ErrInvalidArgument,
		`{"name":"` + strings.Repeat("a", MaxBody) + `"}`: errs.ErrTooLarge,
	} {
		err := Decode(httptest.NewRequest("POST", "/api/v1/x", strings.NewReader(body)), &v)
		if want == nil {
			require.NoError(t, err)
			continue
		}
		require.ErrorIs(t, err, want, body[:min(len(body), 40)])
		require.NotContains(t, err.Error(), "struct")
	}
}

func TestDocument(t *testing.T) {
	a := Fragment{Name: "a", YAML: []byte("paths:\n  /api/v1/a:\n    get: {responses: {\"200\": {description: ok}}}\ncomponents:\n  schemas:\n    A: {type: string}\n")}
	doc, err := Document(a)
	require.NoError(t, err)
	ops, err := Operations(doc)
	require.NoError(t, err)
	require.Equal(t, []string{"GET /api/v1/a", "GET /api/v1/openapi.json", "GET /api/v1/whoami"}, ops)

	_, err = Document(a, a) // the same operation twice
	require.ErrorContains(t, err, "GET /api/v1/a is already described")
	b := Fragment{Name: "b", YAML: []byte("components:\n  schemas:\n    A: {type: integer}\n")}
	_, err = Document(a, b)
	require.ErrorContains(t, err, "components.schemas.A")
	_, err = Document(Fragment{Name: "c", YAML: []byte("info: {title: x}\n")})
	require.ErrorContains(t, err, "only paths and components")
}
