package untrusted_test

import (
	"strings"
	"testing"

	"github.com/smp/delivery/internal/untrusted"
)

func TestTextIsOneQuotedLineThatCannotBeAWorkflowCommand(t *testing.T) {
	for _, s := range []string{
		"5xx spike",
		"x\n::error::deploy approved",
		"\r::add-mask::secret",
		"\x1b[2Kfake prompt",
		"::stop-commands::abc",
	} {
		got := untrusted.Text(s)
		if strings.ContainsAny(got, "\n\r\x1b") {
			t.Errorf("Text(%q) = %q has a control character", s, got)
		}
		if !strings.HasPrefix(got, `"`) || !strings.HasSuffix(got, `"`) {
			t.Errorf("Text(%q) = %q is not quoted", s, got)
		}
	}
}

func TestNameQuotesOnlyWhatIsNotAPlainName(t *testing.T) {
	for in, want := range map[string]string{
		"carol":           "carol",
		"carol@smp.vn":    "carol@smp.vn",
		"oncall-2":        "oncall-2",
		"carol ":          `"carol "`,
		"":                `""`,
		"a\n::error::x":   `"a\n::error::x"`,
		"::warning::oops": `"::warning::oops"`,
		"Nguyễn Văn A":    `"Nguyễn Văn A"`,
	} {
		if got := untrusted.Name(in); got != want {
			t.Errorf("Name(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestLineQuotesOnlyTextWithAControlCharacter: smpctl history printed
// commit subjects as they were, and a hand-made commit's subject can carry
// an escape sequence or a carriage return that rewrites the terminal line.
func TestLineQuotesOnlyTextWithAControlCharacter(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"deploy(dev): order-svc → 3.3.0": "deploy(dev): order-svc → 3.3.0",
		"ok\r::error::forged":            `"ok\r::error::forged"`,
		"\x1b[2Kall good":                `"\x1b[2Kall good"`,
	} {
		if got := untrusted.Line(in); got != want {
			t.Errorf("Line(%q) = %s, want %s", in, got, want)
		}
	}
}
