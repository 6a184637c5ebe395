package buf

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"net/http"
	"strconv"
	"strings"

	"go.uber.org/zap"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/packyard/packyard/pkg/sqldb"
)

// A Download answered to a Connect client that accepts gzip (the buf CLI
// does) is sent compressed from stored bytes: next to each commit's files
// encoding, its gzip is stored once (made by the first such Download), and
// the response is a gzip stream of several members (RFC 1952 allows it,
// and gzip readers read them as one): a small member made per request for
// what precedes the files (the content's tag and length, the commit), then
// the stored member of the files, for each value. Nothing is decompressed
// or compressed again.
//
// The Connect handler still does everything else (authentication,
// interceptors, errors, headers): the route's wrapper puts a
// precompressedBody in the request's context, the Download method fills it
// instead of the response message, and the wrapper's ResponseWriter sends it
// in place of the (empty) message Connect writes, with Content-Encoding gzip.

// encodingFilesGzip is the kind of a commit's stored gzip of its
// encodingFiles encoding.
const encodingFilesGzip = "files/1+gzip"

// precompressedBody receives the compressed body of a response.
type precompressedBody struct{ gz []byte }

type precompressedKey struct{}

// precompressedFrom returns the request's precompressedBody, if its client
// takes one.
func precompressedFrom(ctx context.Context) *precompressedBody {
	b, _ := ctx.Value(precompressedKey{}).(*precompressedBody)
	return b
}

// precompressed serves h, letting its Download answer with stored gzip
// bytes when the call is Connect unary in the binary codec and the client
// accepts gzip.
func precompressed(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/proto" || !acceptsGzip(r.Header.Get("Accept-Encoding")) {
			h.ServeHTTP(w, r)
			return
		}
		body := &precompressedBody{}
		pw := &precompressedWriter{ResponseWriter: w, body: body}
		h.ServeHTTP(pw, r.WithContext(context.WithValue(r.Context(), precompressedKey{}, body)))
		if !pw.wrote && body.gz != nil {
			pw.WriteHeader(http.StatusOK) // Connect wrote the empty message as nothing
		}
	})
}

// precompressedRoute is precompressed for a route as the generated
// constructors return it.
func precompressedRoute(path string, h http.Handler) (string, http.Handler) {
	return path, precompressed(h)
}

// acceptsGzip reports whether an Accept-Encoding header admits gzip.
func acceptsGzip(h string) bool {
	for _, part := range strings.Split(h, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") {
			q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}

// precompressedWriter sends the filled precompressedBody, when there is
// one and the answer is a success, in place of what the handler writes.
type precompressedWriter struct {
	http.ResponseWriter
	body     *precompressedBody
	wrote    bool
	replaced bool
}

func (w *precompressedWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	w.wrote = true
	if code != http.StatusOK || w.body.gz == nil {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	h := w.Header()
	h.Set("Content-Encoding", "gzip")
	h.Set("Content-Length", strconv.Itoa(len(w.body.gz)))
	w.ResponseWriter.WriteHeader(code)
	_, _ = w.ResponseWriter.Write(w.body.gz)
	w.replaced = true
}

func (w *precompressedWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.replaced {
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *precompressedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// downloadGzip is Download as a gzip stream from stored members; ok is
// false (and nothing read) when a value does not ask for all of its
// commit's files, which Download then answers.
func (s *Service) downloadGzip(ctx context.Context, reqs []DownloadRequest, enc CommitEncoder) (gz []byte, ok bool, err error) {
	for _, r := range reqs {
		if !r.all() {
			return nil, false, nil
		}
	}
	plans, size, err := s.planDownloads(ctx, reqs, true)
	if err != nil {
		return nil, false, err
	}
	if size > s.cfg.MaxResponseBytes {
		return nil, false, responseTooLarge(size, s.cfg.MaxResponseBytes)
	}
	ids := make([]string, len(plans))
	for i, p := range plans {
		if p.encoded == nil {
			return nil, false, nil // not stored yet: Download stores it
		}
		ids[i] = p.commit.ID
	}
	stored, err := s.cachedEncodings(ctx, ids, encodingFilesGzip)
	if err != nil {
		return nil, false, err
	}
	var out []byte
	for _, p := range plans {
		commit, err := enc(p.commit)
		if err != nil {
			return nil, false, err
		}
		out = gzipMember(out, contentHead(commit, p.encoded.Size))
		member, ok := stored[p.commit.ID]
		if out, ok, err = s.appendGzipFiles(ctx, out, p, member, ok); err != nil || !ok {
			return nil, false, err
		}
	}
	return out, true, nil
}

// appendGzipFiles appends the stored gzip of a plan's files encoding (e,
// when stored), making and storing it when it is not; ok is false when
// neither can be read.
func (s *Service) appendGzipFiles(ctx context.Context, out []byte, p downloadPlan, e encoding, stored bool) ([]byte, bool, error) {
	if stored {
		full, err := s.readEncoding(ctx, out, e)
		if err == nil {
			return full, true, nil
		}
		s.log.Warn("stored gzip download encoding unreadable; rebuilding it", zap.String("commit", p.commit.ID), zap.Error(err))
	}
	files, err := s.readEncoding(ctx, nil, *p.encoded)
	if err != nil {
		s.log.Warn("stored download encoding unreadable", zap.String("commit", p.commit.ID), zap.Error(err))
		return nil, false, nil
	}
	member, err := gzipCompress(files)
	if err != nil {
		return nil, false, err
	}
	s.saveGzip(ctx, p.commit, member)
	return append(out, member...), true, nil
}

// saveGzip stores the gzip of a commit's files encoding. It is an
// optimisation: a failure is logged, and the next Download tries again.
func (s *Service) saveGzip(ctx context.Context, c Commit, member []byte) {
	d, err := s.cas.Put(ctx, bytes.NewReader(member))
	if err == nil {
		e := encoding{Blob: d.Digest, Size: d.Size}
		err = s.st.db.InTx(ctx, func(tx *sqldb.Tx) error {
			if err := s.st.insertEncoding(ctx, tx, c.ID, encodingFilesGzip, e); err != nil {
				return err
			}
			if err := s.meta.AddBlobRef(ctx, tx, e.Blob, blobRef(c.ModuleID)); err != nil {
				return err
			}
			return s.changed(ctx, tx)
		})
	}
	if err != nil {
		s.log.Warn("store gzip download encoding", zap.String("commit", c.ID), zap.Error(err))
	}
}

// contentHead is what a content (field 1 of a response) holds before its
// files: its tag and length, and its commit.
func contentHead(commit []byte, filesSize int64) []byte {
	inner := protowire.SizeTag(fieldContentCommit) + protowire.SizeBytes(len(commit))
	out := protowire.AppendTag(nil, fieldContents, protowire.BytesType)
	out = protowire.AppendVarint(out, uint64(inner)+uint64(filesSize))
	out = protowire.AppendTag(out, fieldContentCommit, protowire.BytesType)
	return protowire.AppendBytes(out, commit)
}

// gzipMember appends p to out as one gzip member of stored (uncompressed)
// deflate blocks: for the few bytes made per request, where compressing
// would cost more than it saves.
func gzipMember(out, p []byte) []byte {
	sum, size := crc32.ChecksumIEEE(p), uint32(len(p))
	out = append(out, 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff) // magic, deflate, no flags, no time, unknown OS
	for first := true; first || len(p) > 0; first = false {
		n := min(len(p), 0xffff)
		final := byte(0)
		if n == len(p) {
			final = 1
		}
		out = append(out, final)
		out = binary.LittleEndian.AppendUint16(out, uint16(n))
		out = binary.LittleEndian.AppendUint16(out, ^uint16(n))
		out = append(out, p[:n]...)
		p = p[n:]
	}
	out = binary.LittleEndian.AppendUint32(out, sum)
	return binary.LittleEndian.AppendUint32(out, size)
}

// gzipCompress is the gzip of p, compressed as well as gzip can.
func gzipCompress(p []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err == nil {
		_, err = zw.Write(p)
	}
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	return buf.Bytes(), nil
}
