// Package s3 is the blob.Store driver for S3-compatible object
// stores (AWS S3, MinIO, and others), on minio-go.
//
// Objects live in one bucket under an optional key prefix. Uploads stream:
// with a known size, one PUT up to the part size and a multipart upload
// above it; with an unknown size, a multipart upload of bounded parts. Either
// way at most one part (PartSize) is held in memory, and an S3 object only
// becomes visible when its upload completes, so Put is atomic. Incomplete
// multipart uploads left by a crash are not visible; a bucket lifecycle rule
// ("abort incomplete multipart uploads after N days") reclaims their space.
package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"
	"go.uber.org/zap"

	"github.com/packyard/packyard/pkg/blob"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/storage/internal/streamio"
)

// PartSize is the multipart part size, and so the most of an upload held in
// memory at once. Objects of a known size up to PartSize go up in one PUT.
const PartSize = 16 << 20

// Config locates the bucket. With AccessKey and SecretKey both empty the
// credentials come from the environment (AWS_* / MINIO_* variables) or the
// instance's IAM role.
type Config struct {
	Endpoint  string // host[:port], without a scheme, e.g. s3.eu-west-1.example.com or 127.0.0.1:9000
	Bucket    string
	AccessKey string
	SecretKey string // never logged
	Region    string // empty: ask the server
	UseTLS    bool
	Prefix    string // optional key prefix inside the bucket, e.g. "packyard/"
}

// Validate reports the first problem with cfg, naming the field.
func (c Config) Validate() error {
	if c.Endpoint == "" {
		return errs.Invalidf("s3: endpoint is empty")
	}
	if strings.Contains(c.Endpoint, "://") {
		return errs.Invalidf("s3: endpoint %q must be host[:port] without a scheme (use the TLS setting to choose https)", c.Endpoint)
	}
	if strings.ContainsAny(c.Endpoint, "/?# ") {
		return errs.Invalidf("s3: endpoint %q must be host[:port] without a path", c.Endpoint)
	}
	if host, port, err := net.SplitHostPort(c.Endpoint); err == nil {
		if host == "" || port == "" {
			return errs.Invalidf("s3: endpoint %q must be host[:port]", c.Endpoint)
		}
	}
	if c.Bucket == "" {
		return errs.Invalidf("s3: bucket is empty")
	}
	if err := s3utils.CheckValidBucketNameStrict(c.Bucket); err != nil {
		return errs.Wrap(errs.ErrInvalidArgument, fmt.Sprintf("s3: bucket %q is not a valid bucket name", c.Bucket), err)
	}
	if (c.AccessKey == "") != (c.SecretKey == "") {
		return errs.Invalidf("s3: set both the access key and the secret key, or neither")
	}
	if c.Prefix != "" {
		if err := blob.ValidPrefix(c.Prefix); err != nil {
			return errs.Invalidf("s3: prefix %q must be a relative, slash-separated path", c.Prefix)
		}
	}
	return nil
}

// String describes the store without credentials.
func (c Config) String() string {
	scheme := "http"
	if c.UseTLS {
		scheme = "https"
	}
	return fmt.Sprintf("%s://%s/%s/%s", scheme, c.Endpoint, c.Bucket, c.prefix())
}

func (c Config) prefix() string {
	if c.Prefix == "" {
		return ""
	}
	return strings.TrimSuffix(c.Prefix, "/") + "/"
}

// Store is a BlobStore in an S3 bucket.
type Store struct {
	client *minio.Client
	core   minio.Core // the same client, for single-request GETs
	cfg    Config
	prefix string
	logger *zap.Logger
}

var (
	_ blob.Store  = (*Store)(nil)
	_ blob.Lister = (*Store)(nil)
	_ blob.Pinger = (*Store)(nil)
)

// New validates cfg and builds the client. It does no network I/O (so it is
// safe in a constructor); call EnsureBucket at start to check the endpoint
// and create the bucket.
func New(ctx context.Context, cfg Config, logger *zap.Logger) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	var creds *credentials.Credentials
	if cfg.AccessKey != "" {
		creds = credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, "")
	} else {
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvAWS{}, &credentials.EnvMinio{}, &credentials.IAM{},
		})
	}
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:      creds,
		Secure:     cfg.UseTLS,
		Region:     cfg.Region,
		MaxRetries: 3,
	})
	if err != nil {
		return nil, errs.Wrap(errs.ErrInvalidArgument, fmt.Sprintf("s3: endpoint %q is not valid", cfg.Endpoint), err)
	}
	return &Store{client: client, core: minio.Core{Client: client}, cfg: cfg, prefix: cfg.prefix(), logger: logger}, nil
}

// Client returns the underlying minio client (for tests and tools).
func (s *Store) Client() *minio.Client { return s.client }

// EnsureBucket checks that the endpoint answers and creates the bucket when
// it does not exist. The kernel calls it once at start.
func (s *Store) EnsureBucket(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.cfg.Bucket)
	if err != nil {
		return s.endpointErr(ctx, "check", err)
	}
	if ok {
		return nil
	}
	err = s.client.MakeBucket(ctx, s.cfg.Bucket, minio.MakeBucketOptions{Region: s.cfg.Region})
	if err != nil {
		code := minio.ToErrorResponse(err).Code
		if code == "BucketAlreadyOwnedByYou" || code == "BucketAlreadyExists" {
			// Another replica created it first; check that it is ours.
			if ok, err2 := s.client.BucketExists(ctx, s.cfg.Bucket); err2 == nil && ok {
				return nil
			}
		}
		return s.endpointErr(ctx, "create", err)
	}
	s.logger.Info("created bucket", zap.String("endpoint", s.cfg.Endpoint), zap.String("bucket", s.cfg.Bucket))
	return nil
}

// endpointErr describes a failure to reach or use the bucket, naming the
// endpoint and bucket so that an operator can tell which setting is wrong:
// it answers the start-up and readiness checks, never a client. The S3
// error is its cause (errs.Detail).
func (s *Store) endpointErr(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("s3 endpoint %s: %s bucket %q: %w", s.cfg.Endpoint, op, s.cfg.Bucket, ctx.Err())
	}
	return errs.Wrap(errs.ErrUnavailable, fmt.Sprintf("s3 endpoint %s: %s bucket %q", s.cfg.Endpoint, op, s.cfg.Bucket), described(err))
}

// Ping implements blob.Pinger: the bucket must exist and be reachable.
func (s *Store) Ping(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.cfg.Bucket)
	if err != nil {
		return s.endpointErr(ctx, "ping", err)
	}
	if !ok {
		return fmt.Errorf("s3 %s: bucket %q does not exist: %w", s.cfg.Endpoint, s.cfg.Bucket, errs.ErrUnavailable)
	}
	return nil
}

func (s *Store) objectName(key string) (string, error) {
	if err := blob.ValidKey(key); err != nil {
		return "", err
	}
	return s.prefix + key, nil
}

// Open implements blob.Store. It sends the GET at once, so a missing
// key is reported here as errs.ErrNotFound, and the returned reader streams
// that response; see object for seeking. The reader uses ctx for every
// request it makes, so keep ctx alive until it is closed.
func (s *Store) Open(ctx context.Context, key string) (io.ReadSeekCloser, error) {
	name, err := s.objectName(key)
	if err != nil {
		return nil, err
	}
	return s.openObject(ctx, key, name)
}

// Stat implements blob.Store.
func (s *Store) Stat(ctx context.Context, key string) (blob.Info, error) {
	name, err := s.objectName(key)
	if err != nil {
		return blob.Info{}, err
	}
	oi, err := s.client.StatObject(ctx, s.cfg.Bucket, name, minio.StatObjectOptions{})
	if err != nil {
		return blob.Info{}, s.mapErr(ctx, "stat", key, err)
	}
	return blob.Info{Key: key, Size: oi.Size, ModTime: oi.LastModified}, nil
}

// Put implements blob.Store. The reader is wrapped so that minio
// never sees io.ReaderAt (its parallel uploader would hold several parts in
// memory), the declared size is enforced, and ctx stops the stream.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	name, err := s.objectName(key)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if size == 0 {
		// minio may send an empty body without reading r at all.
		if err := streamio.CheckEmpty(streamio.WithContext(ctx, r)); err != nil {
			return fmt.Errorf("s3: put %s: %w", key, err)
		}
	}
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream"}
	if size < 0 {
		opts.PartSize = PartSize
	}
	body := streamio.Record(streamio.Exact(streamio.WithContext(ctx, r), size))
	if _, err := s.client.PutObject(ctx, s.cfg.Bucket, name, body, size, opts); err != nil {
		// The HTTP client reports a failed body as a closed connection;
		// the reader knows the cause (a wrong size, cancellation, r's error).
		if cause := body.Err(); cause != nil {
			err = cause
		}
		return s.mapErr(ctx, "put", key, err)
	}
	return nil
}

// Delete implements blob.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	name, err := s.objectName(key)
	if err != nil {
		return err
	}
	err = s.client.RemoveObject(ctx, s.cfg.Bucket, name, minio.RemoveObjectOptions{})
	if err != nil && minio.ToErrorResponse(err).Code != minio.NoSuchKey {
		return s.mapErr(ctx, "delete", key, err)
	}
	return nil
}

// List implements blob.Lister. A prefix ending in "/" (or empty) is
// listed as is; otherwise it names an object or a "directory" and siblings
// that merely share its characters ("a/b-other" for "a/b") are filtered out.
// Objects whose names are not valid keys (written by other tools) are skipped.
func (s *Store) List(ctx context.Context, prefix string, fn func(blob.Info) error) error {
	if err := blob.ValidPrefix(prefix); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	dir := strings.TrimSuffix(prefix, "/")
	listPrefix := s.prefix + prefix
	// Stop minio's listing goroutine when we return early.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for oi := range s.client.ListObjects(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: listPrefix, Recursive: true}) {
		if oi.Err != nil {
			return s.mapErr(ctx, "list", prefix, oi.Err)
		}
		key, ok := strings.CutPrefix(oi.Key, s.prefix)
		if !ok || blob.ValidKey(key) != nil {
			continue
		}
		if dir != "" && key != dir && !strings.HasPrefix(key, dir+"/") {
			continue
		}
		if err := fn(blob.Info{Key: key, Size: oi.Size, ModTime: oi.LastModified}); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// mapErr gives an S3 error its category: a missing key is ErrNotFound;
// cancellation passes through; errors that already carry a category (a
// short body from streamio) keep it; network failures, server errors and
// refused credentials are ErrUnavailable (the store is down or
// misconfigured), told to clients as "blob storage unavailable", with the
// endpoint, bucket and S3 error kept as the cause, for the log.
func (s *Store) mapErr(ctx context.Context, op, key string, err error) error {
	if errs.Category(err) != nil {
		return fmt.Errorf("s3: %s %s: %w", op, key, err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("s3: %s %s: %w", op, key, err)
	}
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("s3: %s %s: %w (%v)", op, key, cerr, err)
	}
	var er minio.ErrorResponse
	if errors.As(err, &er) {
		switch er.Code {
		case minio.NoSuchKey:
			return fmt.Errorf("s3: object %s: %w", key, errs.ErrNotFound)
		case minio.NoSuchBucket:
			return s.unavailable(fmt.Errorf("s3 %s: %s %s: bucket %q does not exist: %w", s.cfg.Endpoint, op, key, s.cfg.Bucket, err))
		}
		if er.StatusCode == http.StatusNotFound && er.Code == "" {
			return fmt.Errorf("s3: object %s: %w", key, errs.ErrNotFound)
		}
		if er.StatusCode >= 500 || er.StatusCode == http.StatusForbidden || er.StatusCode == http.StatusUnauthorized ||
			er.Code == "AccessDenied" || er.Code == "InvalidAccessKeyId" || er.Code == "SignatureDoesNotMatch" {
			return s.unavailable(fmt.Errorf("s3 %s: bucket %q: %s %s: %w", s.cfg.Endpoint, s.cfg.Bucket, op, key, described(err)))
		}
		return fmt.Errorf("s3 %s: %s %s: %w", s.cfg.Endpoint, op, key, described(err))
	}
	var netErr net.Error
	var urlErr *url.Error
	if errors.As(err, &netErr) || errors.As(err, &urlErr) || errors.Is(err, io.ErrUnexpectedEOF) {
		return s.unavailable(fmt.Errorf("s3 %s: bucket %q: %s %s: %w", s.cfg.Endpoint, s.cfg.Bucket, op, key, err))
	}
	return fmt.Errorf("s3 %s: %s %s: %w", s.cfg.Endpoint, op, key, err)
}

// unavailable is the answer to clients when the store is down; cause says
// for the log where and why.
func (s *Store) unavailable(cause error) error {
	return errs.Wrap(errs.ErrUnavailable, "blob storage unavailable", cause)
}

// described adds an S3 error response's code and status to its text.
func described(err error) error {
	var er minio.ErrorResponse
	if errors.As(err, &er) && er.Code != "" {
		return fmt.Errorf("%w (%s, HTTP %d)", err, er.Code, er.StatusCode)
	}
	return err
}
