package web

import (
	"net/url"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/packyard/packyard/pkg/errs"
)

// Page sizes.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// Pager is the position in a paginated list: ?page= (from 1) and ?size=
// (1–MaxPageSize). Set Total once the list is read; the "pager" partial
// ({{template "pager" .Data.Pager}}) links to the previous and next pages,
// keeping the other query parameters (the search).
type Pager struct {
	Page  int
	Size  int
	Total int
	url   url.URL
}

// Paginate reads page and size from the query; anything but positive
// integers in range is an InvalidArgument error.
func Paginate(c echo.Context) (*Pager, error) {
	q := c.QueryParams()
	p := &Pager{Page: 1, Size: DefaultPageSize, url: *c.Request().URL}
	var err error
	if v := q.Get("page"); v != "" {
		if p.Page, err = strconv.Atoi(v); err != nil || p.Page < 1 || p.Page > 1_000_000 {
			return nil, errs.Invalidf("page must be a whole number from 1")
		}
	}
	if v := q.Get("size"); v != "" {
		if p.Size, err = strconv.Atoi(v); err != nil || p.Size < 1 || p.Size > MaxPageSize {
			return nil, errs.Invalidf("size must be a whole number from 1 to %d", MaxPageSize)
		}
	}
	return p, nil
}

// Offset is the index of the page's first item.
func (p *Pager) Offset() int { return (p.Page - 1) * p.Size }

// Limit is the page size.
func (p *Pager) Limit() int { return p.Size }

// Pages is the number of pages (at least 1).
func (p *Pager) Pages() int {
	if p.Total <= 0 {
		return 1
	}
	return (p.Total + p.Size - 1) / p.Size
}

// Prev is the previous page's URL, "" on the first page.
func (p *Pager) Prev() string {
	if p.Page <= 1 {
		return ""
	}
	return p.link(p.Page - 1)
}

// Next is the next page's URL, "" on the last page.
func (p *Pager) Next() string {
	if p.Page >= p.Pages() {
		return ""
	}
	return p.link(p.Page + 1)
}

func (p *Pager) link(page int) string {
	u := p.url
	q := u.Query()
	if page == 1 {
		q.Del("page")
	} else {
		q.Set("page", strconv.Itoa(page))
	}
	u.RawQuery = q.Encode()
	return u.RequestURI()
}
