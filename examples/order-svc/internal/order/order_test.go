package order

import (
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	if err := (Request{ServiceID: "cod-collection", Quantity: MaxQuantity, Note: strings.Repeat("ư", MaxNoteChars)}).Validate(); err != nil {
		t.Fatalf("valid request rejected: %v", err)
	}
	cases := map[string]Request{
		"quantity 0":       {ServiceID: "a", Quantity: 0},
		"quantity -1":      {ServiceID: "a", Quantity: -1},
		"quantity 1001":    {ServiceID: "a", Quantity: MaxQuantity + 1},
		"bad service id":   {ServiceID: "A B", Quantity: 1},
		"empty service id": {Quantity: 1},
		"long note":        {ServiceID: "a", Quantity: 1, Note: strings.Repeat("x", MaxNoteChars+1)},
		"invalid UTF-8":    {ServiceID: "a", Quantity: 1, Note: "\xff"},
		"NUL in note":      {ServiceID: "a", Quantity: 1, Note: "a\x00"},
	}
	for name, r := range cases {
		if err := r.Validate(); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}
