package main

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"go.uber.org/dig"
	"go.uber.org/fx"

	"github.com/packyard/packyard/cmd/packyard/kernel"
	"github.com/packyard/packyard/ecosystems/buf"
	"github.com/packyard/packyard/ecosystems/buf/sdk"
	bufweb "github.com/packyard/packyard/ecosystems/buf/web"
	"github.com/packyard/packyard/ecosystems/composer"
	composerweb "github.com/packyard/packyard/ecosystems/composer/web"
	"github.com/packyard/packyard/pkg/config"
	"github.com/packyard/packyard/pkg/ecosystem"
)

// ecosystems are the pluggable ecosystem modules packyard ships.
func ecosystems() fx.Option {
	return fx.Options(buf.Module, bufweb.Module, sdk.Module, composer.Module, composerweb.Module)
}

// serverApp is the whole daemon.
func serverApp(env config.Env) *fx.App {
	return fx.New(kernel.Server(env), ecosystems(), fx.StopTimeout(stopTimeout(env)))
}

func stopTimeout(env config.Env) time.Duration {
	l := config.NewLoader(env)
	// The listener drains for PACKYARD_SHUTDOWN_TIMEOUT; leave room for the other hooks.
	return l.Duration("PACKYARD_SHUTDOWN_TIMEOUT", 30*time.Second) + 5*time.Second
}

// invoker returns an ecosystem.Invoker over the kernel (no listener) and
// every ecosystem: fn's parameters are injected, the kernel's start-up
// steps (reaching and migrating the database, the bucket) run, then fn, and
// fn's error is returned as it is. The application is not started, so no
// background worker runs.
func invoker(env config.Env) ecosystem.Invoker {
	env = quietByDefault(env)
	return func(ctx context.Context, fn any) error {
		ft := reflect.TypeOf(fn)
		if ft == nil || ft.Kind() != reflect.Func || ft.IsVariadic() || ft.NumOut() != 1 || ft.Out(0) != reflect.TypeFor[error]() {
			return fmt.Errorf("invoker: %T must be a func returning error", fn)
		}
		if _, err := kernel.ConfigFromEnv(env); err != nil {
			return err
		}
		var fnErr error
		app := fx.New(kernel.Core(env), ecosystems(), fx.Invoke(afterStartup(ctx, fn, &fnErr)))
		if err := app.Err(); err != nil {
			return startupError(err)
		}
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := app.Stop(stopCtx); err != nil && fnErr == nil {
			return err
		}
		return fnErr
	}
}

// afterStartup wraps fn into a function for fx.Invoke that takes the
// kernel's *Startup besides fn's own parameters, runs the start-up steps,
// then fn, and leaves the error of either in errOut.
func afterStartup(ctx context.Context, fn any, errOut *error) any {
	ft := reflect.TypeOf(fn)
	in := []reflect.Type{reflect.TypeFor[*kernel.Startup]()}
	for i := range ft.NumIn() {
		in = append(in, ft.In(i))
	}
	errType := reflect.TypeFor[error]()
	wt := reflect.FuncOf(in, []reflect.Type{errType}, false)
	return reflect.MakeFunc(wt, func(args []reflect.Value) []reflect.Value {
		start := args[0].Interface().(*kernel.Startup)
		if err := start.Run(ctx); err != nil {
			*errOut = startupError(err)
		} else if e, ok := reflect.ValueOf(fn).Call(args[1:])[0].Interface().(error); ok {
			*errOut = e
		}
		return []reflect.Value{reflect.Zero(errType)}
	}).Interface()
}

// startupError strips fx's wiring details from the error a constructor
// returned: configuration and connection errors name the variable to fix.
func startupError(err error) error {
	var se *kernel.StartError
	if errors.As(err, &se) {
		return se.Err
	}
	if root := dig.RootCause(err); root != nil {
		return root
	}
	return err
}

// quietByDefault makes the admin CLI log only warnings and errors unless
// PACKYARD_LOG_LEVEL says otherwise: its output is its result.
func quietByDefault(env config.Env) config.Env {
	return func(name string) (string, bool) {
		v, ok := env(name)
		if name == "PACKYARD_LOG_LEVEL" && (!ok || v == "") {
			return "warn", true
		}
		return v, ok
	}
}

// migrating makes the start-up step migrate whatever
// PACKYARD_MIGRATE_ON_START says: `packyard migrate` is how a database left
// behind by PACKYARD_MIGRATE_ON_START=false is brought up to date.
func migrating(env config.Env) config.Env {
	return func(name string) (string, bool) {
		if name == "PACKYARD_MIGRATE_ON_START" {
			return "true", true
		}
		return env(name)
	}
}
