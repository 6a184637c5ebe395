package main

import (
	"context"
	"fmt"
	"reflect"
	"time"

	"go.uber.org/dig"
	"go.uber.org/fx"

	"github.com/packyard/packyard/cmd/packyard/kernel"
	"github.com/packyard/packyard/ecosystems/buf"
	"github.com/packyard/packyard/ecosystems/composer"
	"github.com/packyard/packyard/pkg/config"
	"github.com/packyard/packyard/pkg/ecosystem"
)

// ecosystems are the pluggable ecosystem modules packyard ships.
func ecosystems() fx.Option {
	return fx.Options(buf.Module, composer.Module)
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
// every ecosystem: fn's parameters are injected, and fn's error is returned
// as it is.
func invoker(env config.Env) ecosystem.Invoker {
	env = quietByDefault(env)
	return func(ctx context.Context, fn any) error {
		ft := reflect.TypeOf(fn)
		if ft == nil || ft.Kind() != reflect.Func || ft.NumOut() != 1 || ft.Out(0) != reflect.TypeFor[error]() {
			return fmt.Errorf("invoker: %T must be a func returning error", fn)
		}
		var fnErr error
		wrapped := reflect.MakeFunc(ft, func(args []reflect.Value) []reflect.Value {
			out := reflect.ValueOf(fn).Call(args)
			if e, ok := out[0].Interface().(error); ok {
				fnErr = e
			}
			return []reflect.Value{reflect.Zero(reflect.TypeFor[error]())}
		})
		if _, err := kernel.ConfigFromEnv(env); err != nil {
			return err
		}
		app := fx.New(kernel.Core(env), ecosystems(), fx.Invoke(wrapped.Interface()))
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

// startupError strips fx's wiring details from the error a constructor
// returned: configuration and connection errors name the variable to fix.
func startupError(err error) error {
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
