package web

import (
	"github.com/labstack/echo/v4"

	"github.com/packyard/packyard/ecosystems/buf"
	"github.com/packyard/packyard/ecosystems/buf/protodoc"
)

// docsData is the documentation page's data. Its Link method gives a
// type's link: an anchor on this page for the module's own types, the
// dependency's documentation page (at the commit this one uses) for a
// dependency the viewer may see, and none otherwise.
type docsData struct {
	Head moduleHead
	Docs protodoc.Docs
	deps map[string]buf.Dep // commit id -> the dependency at that commit
}

// typeLink is a type's name and the URL of its documentation ("" for
// none).
type typeLink struct{ Name, URL string }

// Type is a type's name with its link.
func (d docsData) Type(t protodoc.TypeRef) typeLink { return typeLink{Name: t.Name, URL: d.Link(t)} }

// Link is the URL of a type's documentation, "" when it has none the
// viewer may open.
func (d docsData) Link(t protodoc.TypeRef) string {
	switch {
	case t.FullName == "":
		return ""
	case t.Origin == "":
		return "#" + t.FullName
	}
	dep, ok := d.deps[t.Origin]
	if !ok {
		return "" // a well-known type, or a module the viewer may not see
	}
	return withRef(moduleURL(dep.Module.OwnerName, dep.Module.Name, "/docs"), dep.Commit.ID) + "#" + t.FullName
}

// docsPage is /{org}/modules/{module}/docs: the documentation generated
// from the proto comments of the commit (?ref=).
func (p *Pages) docsPage(c echo.Context) error {
	v, h, err := p.browse(c, "Docs")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	docs, err := p.svc.Docs(ctx, v)
	if err != nil {
		return err
	}
	deps, _, err := p.svc.Deps(ctx, v)
	if err != nil {
		return err
	}
	d := docsData{Head: h, Docs: docs, deps: make(map[string]buf.Dep, len(deps))}
	for _, dep := range deps {
		d.deps[dep.Commit.ID] = dep
	}
	return p.page(c, "docs.html", "Docs", v.Module, d)
}
