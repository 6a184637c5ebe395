package composer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/packyard/packyard/ecosystems/composer/format"
	"github.com/packyard/packyard/pkg/errs"
)

// Doc is a built document as served.
type Doc struct {
	Body    []byte // with the base URL placeholder
	ModTime time.Time
}

// Root returns an organization's packages.json; an organization without
// packages yet has an empty repository.
func (s *Service) Root(ctx context.Context, orgName string) (Doc, error) {
	org, gen, err := s.repo.at(ctx, orgName)
	if err != nil {
		return Doc{}, err
	}
	d, err := s.repo.document(ctx, org, gen, "packages.json")
	if !errors.Is(err, errs.ErrNotFound) {
		return d, err
	}
	body, err := format.RootDoc(orgName, nil)
	return Doc{Body: body, ModTime: time.Unix(0, 0)}, err
}

// Metadata returns the p2 document of a package as the organization's
// repository serves it: the private document when the organization owns
// the name (uploads or git), otherwise the document of the first upstream,
// in priority order, that has the package (see Proxy.metadata). A private
// name never yields an upstream's versions, even when it has none of its
// own left.
func (s *Service) Metadata(ctx context.Context, orgName, name string, dev bool) (Doc, error) {
	org, gen, err := s.repo.at(ctx, orgName)
	if err != nil {
		return Doc{}, err
	}
	key := p2Key(name, dev)
	d, err := s.repo.document(ctx, org, gen, key)
	if !errors.Is(err, errs.ErrNotFound) {
		return d, err
	}
	return s.proxy.metadata(ctx, org, gen, name, dev)
}

// p2Key names a package's p2 document, stable or dev.
func p2Key(name string, dev bool) string {
	if dev {
		return "p2/" + name + "~dev.json"
	}
	return "p2/" + name + ".json"
}

// Cached documents (built, proxied, or an upstream's last answer) are
// framed one way: a JSON header line, then the body's bytes.

func frame(header any, body []byte) []byte {
	h, _ := json.Marshal(header) // headers are plain structs
	return append(append(h, '\n'), body...)
}

func unframe(b []byte, header any) ([]byte, error) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return nil, errors.New("no header")
	}
	if err := json.Unmarshal(b[:i], header); err != nil {
		return nil, err
	}
	return b[i+1:], nil
}

// docHeader frames a built or proxied document.
type docHeader struct {
	Missing bool  `json:"n,omitempty"` // the repository has no such document
	ModTime int64 `json:"t,omitempty"` // Unix seconds
}

func encodeDoc(d Doc) []byte {
	return frame(docHeader{ModTime: d.ModTime.Unix()}, d.Body)
}

// decodeDoc reads a cached document; a document cached as missing, or a
// value that does not decode, is not found.
func decodeDoc(v []byte, key string) (Doc, error) {
	var h docHeader
	body, err := unframe(v, &h)
	if err != nil || h.Missing {
		return Doc{}, errs.NotFoundf("%s not found", key)
	}
	return Doc{Body: body, ModTime: time.Unix(h.ModTime, 0).UTC()}, nil
}
