package api

import (
	"encoding/json"
	"net/http"
)

// Error codes in the JSON error body; clients branch on these, not on the
// message.
const (
	codeBadRequest            = "bad_request"
	codeInvalidJSON           = "invalid_json"
	codeUnknownField          = "unknown_field"
	codeBodyTooLarge          = "body_too_large"
	codeUnsupportedMedia      = "unsupported_media_type"
	codeValidation            = "validation_failed"
	codeUnauthorized          = "unauthorized"
	codeForbidden             = "forbidden"
	codeNotFound              = "not_found"
	codeMethodNotAllowed      = "method_not_allowed"
	codeIdempotencyMissing    = "idempotency_key_missing"
	codeIdempotencyReused     = "idempotency_key_reused"
	codeIdempotencyInFlight   = "idempotency_key_in_progress"
	codeInternal              = "internal_error"
	codeDependencyUnavailable = "dependency_unavailable"
)

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id,omitempty"`
}

// apiError is a client-facing failure: status, code and a message that says
// what was wrong and how to fix it.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.message }

func writeAPIError(w http.ResponseWriter, r *http.Request, e *apiError) {
	writeError(w, r, e.status, e.code, e.message)
}

func writeError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	writeJSON(w, status, errorBody{Error: errorDetail{Code: code, Message: message, RequestID: requestIDFrom(r.Context())}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own types are marshaled; this is a programming error.
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal_error","message":"could not encode the response"}}`)
	}
	writeRaw(w, status, b)
}

func writeRaw(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	// A write error means the client went away; nothing is left to do.
	// The body is JSON served with nosniff, never rendered as HTML.
	_, _ = w.Write(b) //nolint:gosec // G705: see above
}
