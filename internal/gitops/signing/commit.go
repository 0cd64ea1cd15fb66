package signing

import (
	"bytes"
	"strings"
)

// header is the commit header git keeps a signature in: gpgsig in a SHA-1
// repository, gpgsig-sha256 in a SHA-256 one (git signs with the header of
// the repository's hash and leaves the other in the signed payload).
func header(sha256 bool) string {
	if sha256 {
		return "gpgsig-sha256"
	}
	return "gpgsig"
}

// AddSignature returns the commit object raw with armored as its signature,
// written as git writes it: after the other headers, the first line after
// the header's name, each further line indented by one space.
func AddSignature(raw, armored []byte, sha256 bool) []byte {
	end := bytes.Index(raw, []byte("\n\n"))
	if end < 0 {
		end = len(raw)
	} else {
		end++ // after the last header's newline
	}
	var h bytes.Buffer
	h.WriteString(header(sha256))
	for _, l := range strings.SplitAfter(strings.TrimRight(string(armored), "\n")+"\n", "\n") {
		if l == "" {
			continue
		}
		h.WriteByte(' ')
		h.WriteString(l)
	}
	out := make([]byte, 0, len(raw)+h.Len())
	out = append(out, raw[:end]...)
	out = append(out, h.Bytes()...)
	return append(out, raw[end:]...)
}

// SplitCommit separates a commit object into what was signed (the object
// without its signature header) and the armored signature; the signature
// is nil when the commit carries none.
func SplitCommit(raw []byte, sha256 bool) (payload, armored []byte) {
	name := header(sha256) + " "
	end := bytes.Index(raw, []byte("\n\n"))
	if end < 0 {
		end = len(raw)
	} else {
		end++ // the headers with the last one's newline
	}
	var p, sig bytes.Buffer
	in := false
	for _, l := range strings.SplitAfter(string(raw[:end]), "\n") {
		switch {
		case strings.HasPrefix(l, name) && sig.Len() == 0:
			in = true
			sig.WriteString(strings.TrimPrefix(l, name))
		case in && strings.HasPrefix(l, " "):
			sig.WriteString(l[1:])
		default:
			in = false
			p.WriteString(l)
		}
	}
	p.Write(raw[end:])
	if sig.Len() == 0 {
		return p.Bytes(), nil
	}
	return p.Bytes(), sig.Bytes()
}
