package apitest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/xchat-go/markread/spec"
)

// validator routes requests to the spec's operations and checks them against it.
type validator struct {
	router routers.Router
	// methods are every HTTP method the spec declares, to tell a wrong method (405) from an unknown
	// path (404): the router itself reports both as "no matching operation".
	methods []string
}

// loadValidator parses the embedded spec once per process; the parsed document is only read afterwards.
var loadValidator = sync.OnceValues(func() (*validator, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(spec.OpenAPI())
	if err != nil {
		return nil, fmt.Errorf("loading spec/openapi.yaml: %w", err)
	}
	// The spec names X's host; the fake serves on whatever loopback address it got, so match on paths only.
	doc.Servers = nil
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("routing spec/openapi.yaml: %w", err)
	}
	v := &validator{router: router}
	for _, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if !slices.Contains(v.methods, method) {
				v.methods = append(v.methods, method)
			}
		}
	}
	slices.Sort(v.methods)
	return v, nil
})

// routeResult is where a request lands in the spec.
type routeResult struct {
	route  *routers.Route
	params map[string]string
	allow  []string // when the path exists with other methods only
}

// find routes r. A nil route with an empty allow means the path is unknown.
func (v *validator) find(r *http.Request) routeResult {
	// The router forgives a trailing slash; X does not, and neither does a client built from the spec.
	if len(r.URL.Path) > 1 && strings.HasSuffix(r.URL.Path, "/") {
		return routeResult{}
	}
	route, params, err := v.router.FindRoute(r)
	if err == nil {
		return routeResult{route: route, params: params}
	}
	var allow []string
	for _, method := range v.methods {
		if method == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = method
		probe.Body = http.NoBody
		if _, _, err := v.router.FindRoute(probe); err == nil {
			allow = append(allow, method)
		}
	}
	return routeResult{allow: allow}
}

// validate checks r against its operation. Authentication is the Handler's own business (it answers 401
// the way X does before validation), so the validator accepts every security scheme.
func (v *validator) validate(ctx context.Context, r *http.Request, rr routeResult) error {
	return openapi3filter.ValidateRequest(ctx, &openapi3filter.RequestValidationInput{
		Request:    r,
		PathParams: rr.params,
		Route:      rr.route,
		Options: &openapi3filter.Options{
			AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
			// The body is read back after validation; kin-openapi must not rewrite it with defaults.
			SkipSettingDefaults: true,
		},
	})
}

// invalidRequest turns a validation error into the problem X answers, naming the parameter at fault.
func invalidRequest(err error) problem {
	p := problem{
		Type:   problemInvalidRequest,
		Title:  "Invalid Request",
		Status: http.StatusBadRequest,
	}
	var reqErr *openapi3filter.RequestError
	if !errors.As(err, &reqErr) {
		p.Detail = "The request is invalid: " + err.Error()
		return p
	}
	reason := reqErr.Reason
	var schemaErr *openapi3.SchemaError
	switch {
	case errors.As(err, &schemaErr):
		// SchemaError.Error() dumps the schema over many lines; its Reason is the one-line cause.
		reason = schemaErr.Reason
	case reqErr.Err != nil:
		reason = reqErr.Err.Error()
	}
	switch {
	case reqErr.Parameter != nil:
		param := reqErr.Parameter
		p.Parameter = param.Name
		if value, ok := rawParameter(reqErr.Input, param); ok {
			p.Value = value
			p.Detail = fmt.Sprintf("The `%s` %s parameter value %q is invalid: %s.", param.Name, param.In, value, reason)
		} else {
			p.Detail = fmt.Sprintf("The `%s` %s parameter is invalid: %s.", param.Name, param.In, reason)
		}
	case schemaErr != nil && len(schemaErr.JSONPointer()) > 0:
		p.Parameter = schemaErr.JSONPointer()[0]
		if value, ok := schemaErr.Value.(string); ok {
			p.Value = value
		}
		p.Detail = fmt.Sprintf("The `%s` body member is invalid: %s.", p.Parameter, reason)
	default:
		p.Detail = fmt.Sprintf("The request body is invalid: %s.", reason)
	}
	return p
}

// rawParameter is the value a request gave a path parameter, for the problem's "value" member.
func rawParameter(in *openapi3filter.RequestValidationInput, param *openapi3.Parameter) (string, bool) {
	if in == nil || param.In != openapi3.ParameterInPath {
		return "", false
	}
	value, ok := in.PathParams[param.Name]
	return value, ok && value != ""
}
