package web

import (
	"net/url"
	"path"
	"sort"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/packyard/packyard/ecosystems/buf"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/web"
)

// overview is the module page's data.
type overview struct {
	Head     moduleHead
	Labels   []buf.LabeledCommit
	Pager    *web.Pager
	Deps     []depView
	Unseen   int    // dependencies the viewer may not see
	DepsLine string // the buf.yaml line that depends on this module
	Push     string // how to push to the module, when it has no commits
}

// depView is a dependency with its link.
type depView struct {
	buf.Dep
	URL string
}

// modulePage is /{org}/modules/{module}: its labels (the default first)
// with their commits, its dependencies and the buf.yaml line.
func (p *Pages) modulePage(c echo.Context) error {
	v, h, err := p.browse(c, "Overview")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	pg, err := web.Paginate(c)
	if err != nil {
		return err
	}
	labels, n, err := p.svc.Labels(ctx, v, buf.Page{Offset: pg.Offset(), Limit: pg.Limit()})
	if err != nil {
		return err
	}
	pg.Total = n
	deps, unseen, err := p.svc.Deps(ctx, v)
	if err != nil {
		return err
	}
	host := p.host(c)
	name := host + "/" + v.Module.OwnerName + "/" + v.Module.Name
	d := overview{Head: h, Labels: labels, Pager: pg, Unseen: unseen,
		DepsLine: "deps: [" + name + "]", Deps: depViews(deps)}
	if !v.HasCommit {
		d.Push = "# buf.yaml\nversion: v2\nmodules:\n  - path: .\n    name: " + name + "\n\n" +
			"buf registry login " + host + "\nbuf push"
	}
	return p.page(c, "module.html", "", v.Module, d)
}

func depViews(deps []buf.Dep) []depView {
	out := make([]depView, len(deps))
	for i, d := range deps {
		out[i] = depView{Dep: d, URL: withRef(moduleURL(d.Module.OwnerName, d.Module.Name, ""), d.Commit.ID)}
	}
	return out
}

// host is this server's host (and port) as buf module names spell it.
func (p *Pages) host(c echo.Context) string {
	base := p.site.BaseURL(c.Request())
	if u, err := url.Parse(base); err == nil && u.Host != "" {
		return u.Host
	}
	return c.Request().Host
}

// commitsData is the commits page's data.
type commitsData struct {
	Head    moduleHead
	Commits []buf.CommitLabels
	Pager   *web.Pager
}

// commitsPage is /{org}/modules/{module}/commits: every commit, newest
// first, with its digest, time and labels.
func (p *Pages) commitsPage(c echo.Context) error {
	v, h, err := p.browse(c, "Commits")
	if err != nil {
		return err
	}
	pg, err := web.Paginate(c)
	if err != nil {
		return err
	}
	commits, n, err := p.svc.Commits(c.Request().Context(), v, buf.Page{Offset: pg.Offset(), Limit: pg.Limit()})
	if err != nil {
		return err
	}
	pg.Total = n
	return p.page(c, "commits.html", "Commits", v.Module, commitsData{Head: h, Commits: commits, Pager: pg})
}

// entry is a file or a directory in a listing.
type entry struct {
	Name string
	URL  string
	Dir  bool
	Size int64 // -1: not recorded
}

// filesData is the file browser's data: a directory's entries, or a file.
type filesData struct {
	Head    moduleHead
	Path    string // "" at the root
	Parents []web.Crumb
	Entries []entry
	File    *shownFile
	Size    int64
	Limit   int64
}

// filesPage is /{org}/modules/{module}/files[/{path}]: a directory of the
// commit (?ref=) with its entries, or one file's content.
func (p *Pages) filesPage(c echo.Context) error {
	v, h, err := p.browse(c, "Files")
	if err != nil {
		return err
	}
	ref := h.Ref
	rel, err := filePath(c.Param("*"))
	if err != nil {
		return err
	}
	d := filesData{Head: h, Path: rel, Limit: maxShown}
	d.Parents = parents(v, ref, rel)
	ctx := c.Request().Context()
	if rel != "" {
		f, err := p.svc.ReadFile(ctx, v, rel, maxShown)
		switch {
		case err == nil:
			shown := p.hl.show(rel, f.Content, f.Truncated)
			d.File, d.Size = &shown, f.File.Size
			return p.page(c, "files.html", rel, v.Module, d)
		case errs.Category(err) != errs.ErrNotFound:
			return err
		}
	}
	files, err := p.svc.Files(ctx, v)
	if err != nil {
		return err
	}
	d.Entries = listDir(v, ref, files, rel)
	if rel != "" && len(d.Entries) == 0 {
		return errs.NotFoundf("%s has no file or directory %q", v.Module.FullName(), rel)
	}
	title := "Files"
	if rel != "" {
		title = rel + "/"
	}
	return p.page(c, "files.html", title, v.Module, d)
}

// filePath is the path after /files/, unescaped, without surrounding
// slashes; a path with empty, "." or ".." segments is refused.
func filePath(raw string) (string, error) {
	p, err := url.PathUnescape(raw)
	if err != nil {
		return "", errs.Invalidf("the file path is not a valid URL path")
	}
	p = strings.Trim(p, "/")
	if p == "" {
		return "", nil
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", errs.Invalidf("the file path %q is not a path of a module's file", p)
		}
	}
	return p, nil
}

// fileURL is the file browser's URL of rel (a file or a directory).
func fileURL(v buf.View, ref, rel string) string {
	u := moduleURL(v.Module.OwnerName, v.Module.Name, "/files")
	if rel != "" {
		segs := strings.Split(rel, "/")
		for i, s := range segs {
			segs[i] = url.PathEscape(s)
		}
		u += "/" + strings.Join(segs, "/")
	}
	return withRef(u, ref)
}

// parents are the links to the directories above rel.
func parents(v buf.View, ref, rel string) []web.Crumb {
	out := []web.Crumb{{Name: "files", URL: fileURL(v, ref, "")}}
	if rel == "" {
		out[0].URL = ""
		return out
	}
	segs := strings.Split(rel, "/")
	for i, s := range segs {
		c := web.Crumb{Name: s}
		if i < len(segs)-1 {
			c.URL = fileURL(v, ref, strings.Join(segs[:i+1], "/"))
		}
		out = append(out, c)
	}
	return out
}

// listDir returns the entries of directory dir ("" for the root) among
// files: its subdirectories first, then its files, each by name.
func listDir(v buf.View, ref string, files []buf.CommitFile, dir string) []entry {
	prefix := ""
	if dir != "" {
		prefix = dir + "/"
	}
	dirs := map[string]bool{}
	var out []entry
	for _, f := range files {
		rest, ok := strings.CutPrefix(f.Path, prefix)
		if !ok {
			continue
		}
		if sub, _, nested := strings.Cut(rest, "/"); nested {
			if !dirs[sub] {
				dirs[sub] = true
				out = append(out, entry{Name: sub, Dir: true, URL: fileURL(v, ref, path.Join(dir, sub))})
			}
			continue
		}
		out = append(out, entry{Name: rest, Size: f.Size, URL: fileURL(v, ref, f.Path)})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Dir != out[j].Dir {
			return out[i].Dir
		}
		return out[i].Name < out[j].Name
	})
	return out
}
