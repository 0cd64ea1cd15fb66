// Package pagetest reads HTML pages in tests as a person reads them: an
// element by id, a table row's cells, the text of a node with white space
// collapsed. The dashboard's tests and the local environment's (which
// serves the dashboard) share it.
package pagetest

import (
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// Parse parses page, failing the test when it is not HTML.
func Parse(t testing.TB, page string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatalf("not HTML: %v", err)
	}
	return doc
}

// ByID is the element with id under n, or nil.
func ByID(n *html.Node, id string) *html.Node {
	if n.Type == html.ElementNode {
		for _, a := range n.Attr {
			if a.Key == "id" && a.Val == id {
				return n
			}
		}
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if f := ByID(c, id); f != nil {
			return f
		}
	}
	return nil
}

// All is every element named tag under n, in document order.
func All(n *html.Node, tag string) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == tag {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

// Text is what a person reads in n: its text, white space collapsed (a
// <br> reads as a space).
func Text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		switch {
		case n.Type == html.TextNode:
			b.WriteString(n.Data)
		case n.Type == html.ElementNode && (n.Data == "br" || n.Data == "td" || n.Data == "th"):
			b.WriteString(" ")
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

// Row is the text of every cell of the table row with id, header first.
func Row(t testing.TB, doc *html.Node, id string) []string {
	t.Helper()
	tr := ByID(doc, id)
	if tr == nil {
		t.Fatalf("no row #%s on the page", id)
	}
	var cells []string
	for c := tr.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode && (c.Data == "td" || c.Data == "th") {
			cells = append(cells, Text(c))
		}
	}
	return cells
}
