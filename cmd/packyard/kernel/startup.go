package kernel

import (
	"context"
	"sync"

	"go.uber.org/fx"
)

// Startup is the work that needs the network before packyard serves or the
// admin CLI acts: reaching the database and migrating it, creating the
// bucket. Constructors only add steps, so building the application (and
// fx.ValidateApp) stays fast and offline. The daemon runs the steps in an
// OnStart hook that precedes every other hook that uses the database (the
// listener, the ecosystems' workers); the admin CLI runs them before its
// command. They run once.
type Startup struct {
	mu    sync.Mutex
	steps []func(ctx context.Context) error
	done  bool
	err   error
}

// StartError is a failed start-up step. Its message names what to fix (a
// PACKYARD_* variable), without fx's report around it.
type StartError struct{ Err error }

func (e *StartError) Error() string { return e.Err.Error() }
func (e *StartError) Unwrap() error { return e.Err }

// Add appends a step.
func (s *Startup) Add(step func(ctx context.Context) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.steps = append(s.steps, step)
}

// Run runs the steps in order, once; it stops at the first failure, which
// it returns as a *StartError (and returns again on later calls).
func (s *Startup) Run(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return s.err
	}
	s.done = true
	for _, step := range s.steps {
		if err := step(ctx); err != nil {
			s.err = &StartError{Err: err}
			return s.err
		}
	}
	return nil
}

// provideStartup registers the start hook as the first hook of everything
// that depends on the database.
func provideStartup(lc fx.Lifecycle) *Startup {
	s := &Startup{}
	lc.Append(fx.StartHook(s.Run))
	return s
}
