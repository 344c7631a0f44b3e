package webapi

import (
	_ "embed"
	"net/http"
)

// openAPI is the API's OpenAPI 3 document, as served at
// /api/v1/openapi.json.
//
//go:embed openapi.json
var openAPI []byte

func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(openAPI)
}
