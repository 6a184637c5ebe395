package audit

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/packyard/packyard/pkg/config"
	"github.com/packyard/packyard/pkg/errs"
)

// ParseSince reads a lower time bound: a duration before now ("24h",
// "7d") or an RFC 3339 time. Empty means no bound.
func ParseSince(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	d, err := config.ParseDuration(s)
	if err != nil || d <= 0 {
		return time.Time{}, errs.Invalidf("since %q: use a positive duration such as 24h or 7d, or an RFC 3339 time", s)
	}
	return now.Add(-d).UTC(), nil
}

// ParseQuery reads a Query from URL parameters: org, since, until, action
// and limit.
func ParseQuery(v url.Values, now time.Time) (Query, error) {
	q := Query{Org: v.Get("org"), Action: v.Get("action"), Actor: v.Get("actor")}
	var err error
	if q.Since, err = ParseSince(v.Get("since"), now); err != nil {
		return Query{}, err
	}
	if u := v.Get("until"); u != "" {
		t, err := time.Parse(time.RFC3339, u)
		if err != nil {
			return Query{}, errs.Invalidf("until %q: use an RFC 3339 time", u)
		}
		q.Until = t.UTC()
	}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n <= 0 || n > MaxLimit {
			return Query{}, errs.Invalidf("limit %q: use a number from 1 to %d", l, MaxLimit)
		}
		q.Limit = n
	}
	return q, nil
}
