// Package protodoc turns compiled .proto files into the documentation model
// the module pages render: packages with their messages (fields, oneofs),
// enums (values) and services (methods), each with the comments written
// above it in the source, and every type a field or method uses named with
// where it is defined, so that a page can link it. It compiles sources it is
// given (Compile) and builds the model from descriptors (Build); it reads no
// database and no blob store, and it holds no HTML: comments stay plain text
// for the template to escape.
package protodoc

import (
	"sort"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// Docs is the documentation of a module's .proto files.
type Docs struct {
	Packages []Package `json:"packages"`
}

// Package is one protobuf package of the module.
type Package struct {
	Name     string    `json:"name"` // "" for files without a package
	Files    []string  `json:"files"`
	Messages []Message `json:"messages,omitempty"`
	Enums    []Enum    `json:"enums,omitempty"`
	Services []Service `json:"services,omitempty"`
}

// Message is a message, nested ones included (Name "Outer.Inner").
type Message struct {
	Name       string  `json:"name"`
	FullName   string  `json:"full_name"`
	File       string  `json:"file"`
	Comment    string  `json:"comment,omitempty"`
	Deprecated bool    `json:"deprecated,omitempty"`
	Fields     []Field `json:"fields,omitempty"`
}

// Field is a field of a message.
type Field struct {
	Name       string  `json:"name"`
	Number     int32   `json:"number"`
	Label      string  `json:"label,omitempty"`   // "repeated", "optional" or ""
	MapKey     string  `json:"map_key,omitempty"` // the key type of a map field, whose value is Type
	Type       TypeRef `json:"type"`
	Oneof      string  `json:"oneof,omitempty"`
	Comment    string  `json:"comment,omitempty"`
	Deprecated bool    `json:"deprecated,omitempty"`
}

// TypeRef is the type of a field, or a method's input or output. A scalar
// has only a Name; a message or enum has its FullName and the file that
// defines it, and Origin says where that file comes from.
type TypeRef struct {
	Name     string `json:"name"`
	FullName string `json:"full_name,omitempty"`
	File     string `json:"file,omitempty"`
	Origin   string `json:"origin,omitempty"`
}

// Enum is an enum, nested ones included.
type Enum struct {
	Name       string      `json:"name"`
	FullName   string      `json:"full_name"`
	File       string      `json:"file"`
	Comment    string      `json:"comment,omitempty"`
	Deprecated bool        `json:"deprecated,omitempty"`
	Values     []EnumValue `json:"values,omitempty"`
}

// EnumValue is a value of an enum.
type EnumValue struct {
	Name       string `json:"name"`
	Number     int32  `json:"number"`
	Comment    string `json:"comment,omitempty"`
	Deprecated bool   `json:"deprecated,omitempty"`
}

// Service is a service with its methods.
type Service struct {
	Name       string   `json:"name"`
	FullName   string   `json:"full_name"`
	File       string   `json:"file"`
	Comment    string   `json:"comment,omitempty"`
	Deprecated bool     `json:"deprecated,omitempty"`
	Methods    []Method `json:"methods,omitempty"`
}

// Method is a method of a service.
type Method struct {
	Name            string  `json:"name"`
	Input           TypeRef `json:"input"`
	Output          TypeRef `json:"output"`
	ClientStreaming bool    `json:"client_streaming,omitempty"`
	ServerStreaming bool    `json:"server_streaming,omitempty"`
	Comment         string  `json:"comment,omitempty"`
	Deprecated      bool    `json:"deprecated,omitempty"`
}

// Origin tells where the file at path comes from: "" for the module's own
// files, otherwise a value the caller understands (a dependency's commit,
// or StandardOrigin).
type Origin func(path string) string

// StandardOrigin is the origin of the well-known types that come with the
// compiler (google/protobuf/*.proto) rather than from a module.
const StandardOrigin = "std"

// Build documents files (the module's own, compiled with source info),
// grouping them by package in name order; origin places the files that
// define the types they use.
func Build(files []protoreflect.FileDescriptor, origin Origin) Docs {
	byPkg := map[string]*Package{}
	sorted := append([]protoreflect.FileDescriptor(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Path() < sorted[j].Path() })
	for _, f := range sorted {
		name := string(f.Package())
		p := byPkg[name]
		if p == nil {
			p = &Package{Name: name}
			byPkg[name] = p
		}
		p.Files = append(p.Files, f.Path())
		b := builder{file: f, origin: origin}
		b.messages(p, f.Messages(), "")
		b.enums(p, f.Enums(), "")
		for i := 0; i < f.Services().Len(); i++ {
			p.Services = append(p.Services, b.service(f.Services().Get(i)))
		}
	}
	var out Docs
	for _, p := range byPkg {
		out.Packages = append(out.Packages, *p)
	}
	sort.Slice(out.Packages, func(i, j int) bool { return out.Packages[i].Name < out.Packages[j].Name })
	return out
}

// builder documents the declarations of one file.
type builder struct {
	file   protoreflect.FileDescriptor
	origin Origin
}

// comment is the comment above d (or, without one, after it on its line),
// with the leading space of each line removed.
func (b builder) comment(d protoreflect.Descriptor) string {
	loc := b.file.SourceLocations().ByDescriptor(d)
	c := loc.LeadingComments
	if strings.TrimSpace(c) == "" {
		c = loc.TrailingComments
	}
	lines := strings.Split(strings.TrimRight(c, "\n "), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, " ")
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

func (b builder) messages(p *Package, ms protoreflect.MessageDescriptors, prefix string) {
	for i := 0; i < ms.Len(); i++ {
		m := ms.Get(i)
		if m.IsMapEntry() {
			continue
		}
		name := prefix + string(m.Name())
		doc := Message{Name: name, FullName: string(m.FullName()), File: b.file.Path(), Comment: b.comment(m),
			Deprecated: deprecated(m)}
		for j := 0; j < m.Fields().Len(); j++ {
			doc.Fields = append(doc.Fields, b.field(m.Fields().Get(j)))
		}
		p.Messages = append(p.Messages, doc)
		b.messages(p, m.Messages(), name+".")
		b.enums(p, m.Enums(), name+".")
	}
}

func (b builder) field(f protoreflect.FieldDescriptor) Field {
	out := Field{Name: string(f.Name()), Number: int32(f.Number()), Comment: b.comment(f), Deprecated: deprecated(f)}
	switch {
	case f.IsMap():
		out.MapKey = f.MapKey().Kind().String()
		out.Type = b.typeOf(f.MapValue())
		return out
	case f.IsList():
		out.Label = "repeated"
	case f.HasOptionalKeyword():
		out.Label = "optional"
	}
	if o := f.ContainingOneof(); o != nil && !o.IsSynthetic() {
		out.Oneof = string(o.Name())
	}
	out.Type = b.typeOf(f)
	return out
}

// typeOf is the type of a field: a scalar's kind, or the message or enum.
func (b builder) typeOf(f protoreflect.FieldDescriptor) TypeRef {
	switch {
	case f.Message() != nil:
		return b.ref(f.Message())
	case f.Enum() != nil:
		return b.ref(f.Enum())
	}
	return TypeRef{Name: f.Kind().String()}
}

func (b builder) ref(d protoreflect.Descriptor) TypeRef {
	path := d.ParentFile().Path()
	origin := ""
	if b.origin != nil {
		origin = b.origin(path)
	}
	return TypeRef{Name: string(d.FullName()), FullName: string(d.FullName()), File: path, Origin: origin}
}

func (b builder) enums(p *Package, es protoreflect.EnumDescriptors, prefix string) {
	for i := 0; i < es.Len(); i++ {
		e := es.Get(i)
		doc := Enum{Name: prefix + string(e.Name()), FullName: string(e.FullName()), File: b.file.Path(),
			Comment: b.comment(e), Deprecated: deprecated(e)}
		for j := 0; j < e.Values().Len(); j++ {
			v := e.Values().Get(j)
			doc.Values = append(doc.Values, EnumValue{Name: string(v.Name()), Number: int32(v.Number()),
				Comment: b.comment(v), Deprecated: deprecated(v)})
		}
		p.Enums = append(p.Enums, doc)
	}
}

func (b builder) service(s protoreflect.ServiceDescriptor) Service {
	out := Service{Name: string(s.Name()), FullName: string(s.FullName()), File: b.file.Path(),
		Comment: b.comment(s), Deprecated: deprecated(s)}
	for i := 0; i < s.Methods().Len(); i++ {
		m := s.Methods().Get(i)
		out.Methods = append(out.Methods, Method{Name: string(m.Name()), Input: b.ref(m.Input()), Output: b.ref(m.Output()),
			ClientStreaming: m.IsStreamingClient(), ServerStreaming: m.IsStreamingServer(),
			Comment: b.comment(m), Deprecated: deprecated(m)})
	}
	return out
}

// deprecatedOption is what the deprecated option of every kind of
// descriptor has in common.
type deprecatedOption interface{ GetDeprecated() bool }

func deprecated(d protoreflect.Descriptor) bool {
	o, ok := d.Options().(deprecatedOption)
	return ok && o.GetDeprecated()
}
