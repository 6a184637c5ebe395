package buf

import (
	"context"
	"fmt"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/packyard/packyard/pkg/errs"
)

// Every request and response of the registry is bounded: each list of a
// request holds at most a configured number of values, and a response at
// most PACKYARD_BUF_MAX_RESPONSE_BYTES. A request over a limit is refused
// with ResourceExhausted naming the limit and the variable that sets it.

// limitError is a request or response over one of the registry's limits.
type limitError struct{ msg string }

func (e *limitError) Error() string { return e.msg }
func (e *limitError) Unwrap() error { return errs.ErrResourceExhausted }

func exhausted(format string, args ...any) error {
	return &limitError{msg: fmt.Sprintf(format, args...)}
}

// listLimit is how many values a list field of a request may hold and the
// variable that sets it; 0 leaves the field to a check elsewhere.
func (c Config) listLimit(f protoreflect.FieldDescriptor) (int, string) {
	if f.FullName() == "buf.alpha.image.v1.Image.file" {
		// An image for code generation: descriptors, bounded by the request's
		// size (PACKYARD_BUF_MAX_UPLOAD_SIZE), not by their lists.
		return 0, ""
	}
	switch f.Name() {
	case "files": // an upload's files: PACKYARD_BUF_MAX_FILES per module, with their sizes
		return 0, ""
	case "dep_commit_ids", "dep_refs": // every dependency of a push, direct or not
		return c.MaxGraphNodes, "PACKYARD_BUF_MAX_GRAPH_NODES"
	case "paths": // the files or directories of a download value
		return c.MaxFiles, "PACKYARD_BUF_MAX_FILES"
	}
	return c.MaxRefsPerRequest, "PACKYARD_BUF_MAX_REFS_PER_REQUEST"
}

// checkLists refuses a message any of whose lists, at any depth, holds more
// values than limit allows it.
func checkLists(m protoreflect.Message, limit func(protoreflect.FieldDescriptor) (int, string)) error {
	var err error
	m.Range(func(f protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case f.IsList():
			err = checkList(f, v.List(), limit)
		case f.Message() != nil && !f.IsMap():
			err = checkLists(v.Message(), limit)
		}
		return err == nil
	})
	return err
}

func checkList(f protoreflect.FieldDescriptor, l protoreflect.List, limit func(protoreflect.FieldDescriptor) (int, string)) error {
	max, variable := limit(f)
	if max == 0 {
		return nil
	}
	if l.Len() > max {
		return exhausted("%s has %d values, more than the limit of %d (%s)", f.Name(), l.Len(), max, variable)
	}
	if f.Message() == nil {
		return nil
	}
	for i := 0; i < l.Len(); i++ {
		if err := checkLists(l.Get(i).Message(), limit); err != nil {
			return err
		}
	}
	return nil
}

// responseTooLarge is the refusal of a response of n bytes (or more).
func responseTooLarge(n, max int64) error {
	return exhausted("the response would have %d bytes, more than the limit of %d (PACKYARD_BUF_MAX_RESPONSE_BYTES); ask for fewer values at a time", n, max)
}

// limits is the Connect interceptor that bounds every request and response
// of the registry.
type limits struct{ cfg Config }

func (l limits) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if m, ok := req.Any().(proto.Message); ok {
			if err := checkLists(m.ProtoReflect(), l.cfg.listLimit); err != nil {
				return nil, err
			}
		}
		res, err := next(ctx, req)
		if err != nil {
			return res, err
		}
		if m, ok := res.Any().(proto.Message); ok {
			if n := int64(proto.Size(m)); n > l.cfg.MaxResponseBytes {
				return nil, responseTooLarge(n, l.cfg.MaxResponseBytes)
			}
		}
		return res, nil
	}
}

// The registry serves no streams.
func (l limits) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (l limits) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}
