package httpapi

import (
	"encoding/json"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// specDoc decodes the embedded openapi.json.
func specDoc(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	return doc
}

func TestOpenAPIParses(t *testing.T) {
	doc := specDoc(t)
	if v, _ := doc["openapi"].(string); v != "3.0.3" {
		t.Fatalf("openapi = %q, want 3.0.3", v)
	}
	if _, ok := doc["paths"].(map[string]any); !ok {
		t.Fatal("openapi.json has no paths")
	}
	// operationIds are unique and every operation answers something.
	seen := map[string]string{}
	for route, o := range specOperations(t, doc) {
		id, _ := o["operationId"].(string)
		if id == "" {
			t.Errorf("%s: no operationId", route)
		} else if prev, dup := seen[id]; dup {
			t.Errorf("operationId %q used by %s and %s", id, prev, route)
		}
		seen[id] = route
		if rs, _ := o["responses"].(map[string]any); len(rs) == 0 {
			t.Errorf("%s: no responses", route)
		}
	}
}

var httpMethods = []string{"get", "put", "post", "delete", "patch", "head", "options", "trace"}

// specOperations returns the operations of the spec by "METHOD /path".
// OpenAPI's {param} path syntax is also ServeMux's.
func specOperations(t *testing.T, doc map[string]any) map[string]map[string]any {
	t.Helper()
	ops := map[string]map[string]any{}
	paths, _ := doc["paths"].(map[string]any)
	for path, item := range paths {
		item, ok := item.(map[string]any)
		if !ok {
			t.Fatalf("path %s is not an object", path)
		}
		for _, m := range httpMethods {
			if o, ok := item[m].(map[string]any); ok {
				ops[strings.ToUpper(m)+" "+path] = o
			}
		}
	}
	return ops
}

// routePattern matches the registrations in Server.Handler.
var routePattern = regexp.MustCompile(`\b(?:h|mux\.Handle)\("([A-Z]+) (/[^"]*)"`)

func TestOpenAPICoversRoutes(t *testing.T) {
	src, err := os.ReadFile("server.go")
	if err != nil {
		t.Fatal(err)
	}
	routes := map[string]bool{}
	for _, m := range routePattern.FindAllStringSubmatch(string(src), -1) {
		routes[m[1]+" "+m[2]] = true
	}
	if len(routes) < 20 {
		t.Fatalf("found only %d routes in server.go; has the registration style changed?", len(routes))
	}
	ops := specOperations(t, specDoc(t))
	var missing, extra []string
	for r := range routes {
		if ops[r] == nil {
			missing = append(missing, r)
		}
	}
	for r := range ops {
		if !routes[r] {
			extra = append(extra, r)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	for _, r := range missing {
		t.Errorf("route %s is registered in server.go but not described in openapi.json", r)
	}
	for _, r := range extra {
		t.Errorf("openapi.json describes %s, which server.go does not register", r)
	}
}

func TestOpenAPIRefsResolve(t *testing.T) {
	doc := specDoc(t)
	n := 0
	var walk func(at string, v any)
	walk = func(at string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if r, ok := v["$ref"]; ok {
				n++
				s, _ := r.(string)
				if !strings.HasPrefix(s, "#/components/") {
					t.Errorf("%s: $ref %q does not point under #/components/", at, s)
				} else if resolvePointer(doc, strings.TrimPrefix(s, "#/")) == nil {
					t.Errorf("%s: $ref %q does not resolve", at, s)
				}
			}
			for k, e := range v {
				walk(at+"/"+k, e)
			}
		case []any:
			for _, e := range v {
				walk(at+"/[]", e)
			}
		}
	}
	walk("#", doc)
	if n == 0 {
		t.Fatal("no $ref in openapi.json")
	}
}

// resolvePointer follows a JSON pointer (without the leading "#/").
func resolvePointer(doc any, ptr string) any {
	cur := doc
	for _, tok := range strings.Split(ptr, "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		if cur, ok = m[tok]; !ok {
			return nil
		}
	}
	return cur
}
