package gate

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/common/model"
)

// Current reads, without judging them, the figures the gate judges
// o.Version by — its API requests, error rate and p95 over o.Window at
// o.At — with the gate's own queries, so that a page showing them (the
// dashboard's service page) says what `smpctl verify` would measure.
// o.Version is required: nothing is compared, so no baseline is looked for.
// The Result has no Checks and OK is false: a figure is not a verdict.
func Current(ctx context.Context, o Options) (Result, error) {
	if err := o.Validate(); err != nil {
		return Result{}, err
	}
	if o.Version == "" {
		return Result{}, errors.New("gate figures: no version: give the version the environment runs")
	}
	o.defaults()
	q, err := newQuerier(o)
	if err != nil {
		return Result{}, err
	}
	w := model.Duration(o.Window).String()
	res := Result{Env: o.Env, Service: o.Service, Version: o.Version, Window: w}
	sel := fmt.Sprintf(`env=%q,service=%q`, o.Env, o.Service)
	if res.Requests, res.ErrorRate, res.P95, err = q.figures(ctx, sel, o.Version, w, o.At); err != nil {
		return res, fmt.Errorf("gate figures of %s %s in %s: %w", o.Service, o.Version, o.Env, err)
	}
	return res, nil
}
