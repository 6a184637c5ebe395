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

// root is an organization's packages.json; an organization without
// packages yet has an empty repository.
func (s *Service) root(ctx context.Context, org orgRef, gen int64) (Doc, error) {
	d, err := s.repo.document(ctx, org, gen, "packages.json")
	if !errors.Is(err, errs.ErrNotFound) {
		return d, err
	}
	body, err := format.RootDoc(org.Name, nil)
	return Doc{Body: body, ModTime: time.Unix(0, 0)}, err
}

// ServedRoot is packages.json as sent to clients that reach packyard at
// base: built once per change of the repository.
func (s *Service) ServedRoot(ctx context.Context, orgName, base string) (*Ready, error) {
	org, gen, err := s.repo.at(ctx, orgName)
	if err != nil {
		return nil, err
	}
	k, v := readyKey{org: org.ID, doc: "packages.json", base: base}, atGeneration(gen)
	if r := s.ready.get(k, v); r != nil {
		return r, nil
	}
	d, err := s.root(ctx, org, gen)
	if err != nil {
		return nil, err
	}
	return s.ready.put(k, v, d), nil
}

// ServedMetadata is the p2 document of a package as the organization's
// repository serves it, as sent to clients that reach packyard at base: the
// private document when the organization owns the name (uploads or git),
// otherwise the document of the first upstream, in priority order, that
// has the package (see Proxy.metadata). A private name never yields an
// upstream's versions, even when it has none of its own left. The
// repository's own documents are built once per change of the repository,
// proxied ones once per change of their bytes.
func (s *Service) ServedMetadata(ctx context.Context, orgName, name string, dev bool, base string) (*Ready, error) {
	org, gen, err := s.repo.at(ctx, orgName)
	if err != nil {
		return nil, err
	}
	key := p2Key(name, dev)
	k, v := readyKey{org: org.ID, doc: key, base: base}, atGeneration(gen)
	if r := s.ready.get(k, v); r != nil {
		return r, nil
	}
	d, err := s.repo.document(ctx, org, gen, key)
	if errors.Is(err, errs.ErrNotFound) {
		if d, err = s.proxy.metadata(ctx, org, gen, name, dev); err != nil {
			return nil, err
		}
		v = s.ready.fingerprint(d)
		if r := s.ready.get(k, v); r != nil {
			return r, nil
		}
	} else if err != nil {
		return nil, err
	}
	return s.ready.put(k, v, d), nil
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
