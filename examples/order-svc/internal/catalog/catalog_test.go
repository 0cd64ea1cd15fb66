package catalog

import (
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	ok := Service{ID: "express-delivery", Name: "Giao nhanh", Category: "delivery", BasePrice: 0, Currency: "VND"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := Service{ID: "Bad ID", Name: " ", Category: "x'--", BasePrice: MaxPrice + 1, Currency: "usd"}
	err := bad.Validate()
	for _, want := range []string{"id", "name", "category", "base_price", "currency"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %s", err, want)
		}
	}
	if (Service{ID: "x", Name: strings.Repeat("ă", 201), Category: "c", Currency: "VND"}).Validate() == nil {
		t.Error("201-character name accepted")
	}
	if ValidID(strings.Repeat("a", 65)) || !ValidID(strings.Repeat("a", 64)) || ValidID("-x") {
		t.Error("ValidID bounds are wrong")
	}
}
