package api

import (
	"encoding/json"
	"net/http"
)

// echo returns the JSON body it received, byte for byte: the post-deploy
// smoke test's proof that the write path (routing, body limits, JSON) works
// without creating data.
func (s *server) echo(w http.ResponseWriter, r *http.Request) {
	body, e := readJSONBody(w, r, s.MaxBodyBytes)
	if e != nil {
		writeAPIError(w, r, e)
		return
	}
	if !json.Valid(body) {
		var v any
		e := decodeStrict(body, &v) // says where the JSON breaks
		if e == nil {
			e = &apiError{http.StatusBadRequest, codeInvalidJSON, "request body is not valid JSON"}
		}
		writeAPIError(w, r, e)
		return
	}
	writeRaw(w, http.StatusOK, body)
}
