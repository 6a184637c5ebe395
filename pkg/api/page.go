package api

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/packyard/packyard/pkg/errs"
)

// Page sizes.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// Page is a parsed ?page_size=&page_token=: Size items from Offset.
type Page struct {
	Size   int
	Offset int
}

// List is a page of a list as answered: the items and, when more follow,
// the token of the next page.
type List[T any] struct {
	Items         []T    `json:"items"`
	NextPageToken string `json:"next_page_token,omitempty"`
}

const tokenPrefix = "o"

// ParsePage reads ?page_size= and ?page_token= from a query.
func ParsePage(q url.Values) (Page, error) {
	p := Page{Size: DefaultPageSize}
	if s := q.Get("page_size"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxPageSize {
			return Page{}, errs.Invalidf("page_size must be a number from 1 to %d", MaxPageSize)
		}
		p.Size = n
	}
	if t := q.Get("page_token"); t != "" {
		raw, err := base64.RawURLEncoding.DecodeString(t)
		s, ok := strings.CutPrefix(string(raw), tokenPrefix)
		n, nerr := strconv.Atoi(s)
		if err != nil || !ok || nerr != nil || n < 0 {
			return Page{}, errs.Invalidf("page_token is not one this server gave: pass next_page_token of the previous page")
		}
		p.Offset = n
	}
	return p, nil
}

// Token is the page token of the page that starts at offset.
func Token(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(tokenPrefix + strconv.Itoa(offset)))
}

// Slice returns the page of items (already in their stable order).
func Slice[T any](items []T, p Page) List[T] {
	out := List[T]{Items: []T{}}
	if p.Offset >= len(items) {
		return out
	}
	end := min(len(items), p.Offset+p.Size)
	out.Items = append(out.Items, items[p.Offset:end]...)
	if end < len(items) {
		out.NextPageToken = Token(end)
	}
	return out
}

// More builds the page from items fetched with a limit of p.Size+1 from
// p.Offset: one more than the page says that another page follows.
func More[T any](items []T, p Page) List[T] {
	out := List[T]{Items: []T{}}
	if len(items) > p.Size {
		out.Items = append(out.Items, items[:p.Size]...)
		out.NextPageToken = Token(p.Offset + p.Size)
		return out
	}
	out.Items = append(out.Items, items...)
	return out
}

// WritePage answers the page of items (in their stable order) that r's
// ?page_size= and ?page_token= select.
func WritePage[T any](w http.ResponseWriter, r *http.Request, items []T) error {
	p, err := ParsePage(r.URL.Query())
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, Slice(items, p))
	return nil
}
