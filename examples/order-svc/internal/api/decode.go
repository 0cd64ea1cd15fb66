package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// readJSONBody reads a request body that must be JSON and at most max
// bytes. It answers 415 for another media type and 413 for a larger body.
func readJSONBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, *apiError) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return nil, &apiError{http.StatusUnsupportedMediaType, codeUnsupportedMedia,
				fmt.Sprintf("Content-Type %q is not supported; send application/json", ct)}
		}
	} else {
		return nil, &apiError{http.StatusUnsupportedMediaType, codeUnsupportedMedia,
			"Content-Type is missing; send application/json"}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, &apiError{http.StatusRequestEntityTooLarge, codeBodyTooLarge,
				fmt.Sprintf("request body is larger than %d bytes", max)}
		}
		return nil, &apiError{http.StatusBadRequest, codeBadRequest, "could not read the request body: " + err.Error()}
	}
	return body, nil
}

// decodeStrict decodes exactly one JSON object into v, refusing unknown
// fields, wrong types and trailing data. The error says where the problem
// is, so the caller can fix the request.
func decodeStrict(data []byte, v any) *apiError {
	if len(bytes.TrimSpace(data)) == 0 {
		return &apiError{http.StatusBadRequest, codeInvalidJSON, "request body is empty; send a JSON object"}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &apiError{http.StatusBadRequest, codeInvalidJSON, "request body holds data after the JSON object; send exactly one object"}
	}
	return nil
}

func decodeError(err error) *apiError {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return &apiError{http.StatusBadRequest, codeInvalidJSON, fmt.Sprintf("malformed JSON at byte %d: %v", syntax.Offset, syntax)}
	case errors.As(err, &typ):
		if typ.Field == "" {
			return &apiError{http.StatusBadRequest, codeInvalidJSON, fmt.Sprintf("expected a JSON object, got %s", typ.Value)}
		}
		return &apiError{http.StatusBadRequest, codeInvalidJSON, fmt.Sprintf("field %q must be %s, got %s", typ.Field, jsonType(typ.Type.Kind().String()), typ.Value)}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &apiError{http.StatusBadRequest, codeInvalidJSON, "malformed JSON: the body ends in the middle of a value"}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no typed error for unknown fields.
		field := strings.TrimPrefix(err.Error(), "json: unknown field ")
		return &apiError{http.StatusBadRequest, codeUnknownField, fmt.Sprintf("unknown field %s; remove it", field)}
	default:
		return &apiError{http.StatusBadRequest, codeInvalidJSON, "malformed JSON: " + err.Error()}
	}
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int", "int64", "int32", "uint64":
		return "an integer"
	default:
		return "a " + kind
	}
}
