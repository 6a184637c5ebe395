package composer

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/packyard/packyard/ecosystems/composer/format"
	"github.com/packyard/packyard/ecosystems/composer/vcs"
	"github.com/packyard/packyard/pkg/errs"
)

// The reads of the web pages: a page of an organization's packages, and a
// package with every version as its page shows it.

// PackageSummary is a package in an organization's list.
type PackageSummary struct {
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Versions    int       `json:"versions"`
	Downloads   int64     `json:"downloads"`
	Updated     time.Time `json:"updated"`
}

// PackagePage is one page of an organization's packages.
type PackagePage struct {
	Packages []PackageSummary `json:"packages"`
	Total    int              `json:"total"` // packages that match, on every page
}

// maxPageSize bounds the packages one page lists.
const maxPageSize = 200

// SearchPackages lists a page of an organization's packages that have
// versions, by name; query, when not empty, keeps those whose name or
// description contains it.
func (s *Service) SearchPackages(ctx context.Context, orgName, query string, offset, limit int) (PackagePage, error) {
	org, err := s.repo.org(ctx, orgName)
	if err != nil {
		return PackagePage{}, err
	}
	limit = min(max(limit, 1), maxPageSize)
	offset = max(offset, 0)
	like := "%" + likeEscape(strings.TrimSpace(query)) + "%"
	total, err := s.store.countSummaries(ctx, org.ID, like)
	if err != nil {
		return PackagePage{}, err
	}
	list, err := s.store.summaries(ctx, org.ID, like, limit, offset)
	return PackagePage{Packages: list, Total: total}, err
}

// CountPackages counts an organization's packages that have versions.
func (s *Service) CountPackages(ctx context.Context, orgName string) (int, error) {
	org, err := s.repo.org(ctx, orgName)
	if err != nil {
		return 0, err
	}
	return s.store.countSummaries(ctx, org.ID, "%")
}

// Link is a package a version links to (require, conflict…) with its
// constraint, or its reason for suggest.
type Link struct {
	Name       string `json:"name"`
	Constraint string `json:"constraint"`
}

// Author is an author of a version as composer.json names it.
type Author struct {
	Name     string `json:"name"`
	Email    string `json:"email,omitempty"`
	Homepage string `json:"homepage,omitempty"`
	Role     string `json:"role,omitempty"`
}

// VersionDetail is a version as its package's page shows it.
type VersionDetail struct {
	Version    string     `json:"version"`
	Normalized string     `json:"version_normalized"`
	Dev        bool       `json:"dev"`
	Reference  string     `json:"reference,omitempty"`
	Source     string     `json:"source,omitempty"` // "upload", the git URL, or the upstream's
	Ref        string     `json:"ref,omitempty"`
	Released   *time.Time `json:"released,omitempty"`
	Downloads  int64      `json:"downloads"`
	SHA1       string     `json:"shasum,omitempty"`
	Size       int64      `json:"size,omitempty"`
	DistStored bool       `json:"dist_stored"` // its archive is in packyard's storage
	Require    []Link     `json:"require,omitempty"`
	RequireDev []Link     `json:"require_dev,omitempty"`
	Suggest    []Link     `json:"suggest,omitempty"`
	Provide    []Link     `json:"provide,omitempty"`
	Conflict   []Link     `json:"conflict,omitempty"`
	Replace    []Link     `json:"replace,omitempty"`
	Autoload   string     `json:"autoload,omitempty"` // indented JSON
	License    []string   `json:"license,omitempty"`
	Authors    []Author   `json:"authors,omitempty"`
	Advisories []Advisory `json:"advisories,omitempty"` // the organization's that affect it
	digest     string     // of its dist in the CAS
}

// DayCount is the installs of a package on a day (days since the epoch, UTC).
type DayCount struct {
	Day   int64 `json:"day"`
	Count int64 `json:"count"`
}

// Time is the day's start.
func (d DayCount) Time() time.Time { return time.Unix(d.Day*86400, 0).UTC() }

// chartDays is how many days of installs a package's page shows.
const chartDays = 30

// PackageDetail is a package as its page shows it.
type PackageDetail struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Upstream    string          `json:"upstream,omitempty"` // for a mirrored package, the upstream that serves it
	Versions    []VersionDetail `json:"versions"`           // newest first, stable then dev
	Days        []DayCount      `json:"days"`               // the last chartDays days, one entry each, oldest first
}

// Stable is the package's stable versions, newest first.
func (p PackageDetail) Stable() []VersionDetail {
	return slices.DeleteFunc(slices.Clone(p.Versions), func(v VersionDetail) bool { return v.Dev })
}

// Dev is the package's dev versions.
func (p PackageDetail) Dev() []VersionDetail {
	return slices.DeleteFunc(slices.Clone(p.Versions), func(v VersionDetail) bool { return !v.Dev })
}

// Package describes a package of an organization: its own (uploads and
// git), or else one its upstreams serve (Upstream set).
func (s *Service) Package(ctx context.Context, orgName, name string) (PackageDetail, error) {
	org, err := s.repo.org(ctx, orgName)
	if err != nil {
		return PackageDetail{}, err
	}
	name = strings.ToLower(name)
	id, desc, err := s.store.packageRow(ctx, org.ID, name)
	var d PackageDetail
	switch {
	case errors.Is(err, errs.ErrNotFound):
		d, err = s.mirroredPackage(ctx, org, name)
	case err == nil:
		d, err = s.ownPackage(ctx, id, name, desc)
	}
	if err != nil {
		return PackageDetail{}, err
	}
	advs, err := s.store.advisories(ctx, org.ID, []string{name})
	if err != nil {
		return PackageDetail{}, err
	}
	affects := affecting(advs)
	for i := range d.Versions {
		d.Versions[i].Advisories = affects(d.Versions[i].Normalized)
	}
	sortDetails(d.Versions)
	return d, nil
}

func (s *Service) ownPackage(ctx context.Context, id, name, desc string) (PackageDetail, error) {
	rows, err := s.store.versionDetails(ctx, id)
	if err != nil {
		return PackageDetail{}, err
	}
	if len(rows) == 0 {
		return PackageDetail{}, errs.NotFoundf("package %s has no versions", name)
	}
	attributeDownloads(rows, func(r *storedVersion) (string, string, *int64) { return r.Normalized, r.Version, &r.Downloads })
	d := PackageDetail{Name: name, Description: desc, Versions: make([]VersionDetail, 0, len(rows))}
	for _, r := range rows {
		v := versionDetail([]byte(r.Entry))
		v.Version, v.Normalized, v.Reference, v.Ref, v.Downloads = r.Version, r.Normalized, r.Reference, r.Ref, r.Downloads
		v.Dev = format.ParseStability(r.Normalized) == format.StabilityDev
		v.Source = "upload"
		if r.Source != "" {
			v.Source = vcs.RedactURL(r.Source)
		}
		if r.Digest != "" {
			v.SHA1, v.Size, v.DistStored, v.digest = r.SHA1, r.Size, true, r.Digest
		}
		if v.Released == nil {
			t := fromMicros(r.Created)
			v.Released = &t
		}
		d.Versions = append(d.Versions, v)
	}
	today := s.repo.now().Unix() / 86400
	days, err := s.store.downloadDays(ctx, id, today-chartDays+1)
	d.Days = fillDays(days, today)
	return d, err
}

// mirroredPackage is a package an upstream serves, with which of its
// archives the mirror holds.
func (s *Service) mirroredPackage(ctx context.Context, org orgRef, name string) (PackageDetail, error) {
	u, objs, err := s.proxy.packageVersions(ctx, org, name)
	if err != nil {
		return PackageDetail{}, err
	}
	keys, err := s.store.mirroredKeys(ctx, org.ID, name)
	if err != nil {
		return PackageDetail{}, err
	}
	d := PackageDetail{Name: name, Upstream: u.URL, Versions: make([]VersionDetail, 0, len(objs))}
	for _, o := range objs {
		raw, _ := json.Marshal(o)
		v := versionDetail(raw)
		var head struct {
			Version    string `json:"version"`
			Normalized string `json:"version_normalized"`
			Desc       string `json:"description"`
		}
		_ = json.Unmarshal(raw, &head)
		v.Version, v.Normalized, v.Source = head.Version, head.Normalized, u.URL
		if v.Normalized == "" {
			v.Normalized, _ = format.Normalize(head.Version)
		}
		v.Dev = format.ParseStability(v.Normalized) == format.StabilityDev
		if dist, _, ok := parseDist(o); ok {
			v.Reference, v.SHA1, v.DistStored = dist.Reference, dist.Shasum, slices.Contains(keys, distKey(dist))
		}
		if d.Description == "" {
			d.Description = head.Desc
		}
		d.Versions = append(d.Versions, v)
	}
	return d, nil
}

// versionDetail reads what a page shows of a version entry (a p2 object).
// Fields of an unexpected shape are left out.
func versionDetail(entry []byte) VersionDetail {
	var e struct {
		Require    map[string]string `json:"require"`
		RequireDev map[string]string `json:"require-dev"`
		Suggest    map[string]string `json:"suggest"`
		Provide    map[string]string `json:"provide"`
		Conflict   map[string]string `json:"conflict"`
		Replace    map[string]string `json:"replace"`
		Autoload   json.RawMessage   `json:"autoload"`
		Time       string            `json:"time"`
		License    json.RawMessage   `json:"license"`
		Authors    []Author          `json:"authors"`
	}
	var v VersionDetail
	if json.Unmarshal(entry, &e) != nil {
		var o struct{ Time string } // one malformed field must not hide the others
		_ = json.Unmarshal(entry, &o)
		e.Time = o.Time
	}
	v.Require, v.RequireDev, v.Suggest = links(e.Require), links(e.RequireDev), links(e.Suggest)
	v.Provide, v.Conflict, v.Replace = links(e.Provide), links(e.Conflict), links(e.Replace)
	if len(e.Autoload) > 0 && string(e.Autoload) != "null" {
		if b, err := json.MarshalIndent(e.Autoload, "", "  "); err == nil {
			v.Autoload = string(b)
		}
	}
	if t, err := time.Parse(time.RFC3339, e.Time); err == nil {
		t = t.UTC()
		v.Released = &t
	}
	v.License, v.Authors = licenses(e.License), e.Authors
	return v
}

func links(m map[string]string) []Link {
	out := make([]Link, 0, len(m))
	for name, c := range m {
		out = append(out, Link{Name: name, Constraint: c})
	}
	slices.SortFunc(out, func(a, b Link) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// licenses reads "license", a string or a list of strings.
func licenses(raw json.RawMessage) []string {
	if len(raw) == 0 {
		return nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}
	}
	var many []string
	_ = json.Unmarshal(raw, &many)
	return many
}

// affecting is the advisories whose constraint a version meets (each
// parsed once); an advisory whose constraint does not parse affects none.
func affecting(advs []Advisory) func(normalized string) []Advisory {
	cs := make([]format.Constraint, len(advs))
	for i, a := range advs {
		if c, err := format.ParseConstraint(a.Versions); err == nil {
			cs[i] = c
		}
	}
	return func(normalized string) []Advisory {
		var out []Advisory
		for i, a := range advs {
			if cs[i] != nil && cs[i].Matches(normalized) {
				out = append(out, a)
			}
		}
		return out
	}
}

// sortDetails orders versions newest first, stable ones before dev ones,
// versions of one normalized version by pretty version.
func sortDetails(vs []VersionDetail) {
	slices.SortStableFunc(vs, func(a, b VersionDetail) int {
		if a.Dev != b.Dev {
			if a.Dev {
				return 1
			}
			return -1
		}
		return cmp.Or(format.CompareNormalized(b.Normalized, a.Normalized), strings.Compare(a.Version, b.Version))
	})
}

// attributeDownloads leaves the installs of a normalized version (Composer
// reports no more of an install) on the version of it Composer installs,
// the first by pretty version (see sortVersions), and none on the others
// (git branches 1.x and v1.x), so that they add up to the package's.
func attributeDownloads[T any](vs []T, of func(*T) (normalized, version string, downloads *int64)) {
	first := map[string]string{}
	for i := range vs {
		n, v, _ := of(&vs[i])
		if cur, ok := first[n]; !ok || v < cur {
			first[n] = v
		}
	}
	for i := range vs {
		if n, v, d := of(&vs[i]); first[n] != v {
			*d = 0
		}
	}
}

// fillDays is one entry per day of the chartDays days up to today, zero
// where nothing was installed.
func fillDays(days []DayCount, today int64) []DayCount {
	out := make([]DayCount, chartDays)
	for i := range out {
		out[i].Day = today - chartDays + 1 + int64(i)
	}
	for _, d := range days {
		if i := d.Day - out[0].Day; i >= 0 && i < chartDays {
			out[i].Count = d.Count
		}
	}
	return out
}

// MaxUploadSize is the largest archive an upload may send
// (PACKYARD_COMPOSER_MAX_UPLOAD_SIZE).
func (s *Service) MaxUploadSize() int64 { return s.cfg.MaxUploadSize }
