package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/image/imageref"
	"github.com/smp/delivery/internal/image/signing"
)

func init() { register(newSignCmd) }

func newSignCmd(a *App) *cobra.Command {
	var ref, key string
	cmd := &cobra.Command{
		Use:   "sign --image REF --key cosign.key",
		Short: "Sign an image and its SBOMs with a cosign key pair (cosign's formats)",
		Long: `sign resolves REF to its digest and signs, with a cosign private key, every
SBOM referrer of the image's platform images and then the image itself. The
signatures are stored as cosign stores them (REPO:sha256-<hex>.sig), so the
cosign CLI verifies them too:

  cosign verify --key cosign.pub --insecure-ignore-tlog=true REPO@sha256:…

The key's password comes from COSIGN_PASSWORD. Create a key pair with
"smpctl sign generate-key" or "cosign generate-key-pair". Keyless signing in
GitHub Actions uses the cosign CLI with the workflow's OIDC token
(docs/images.md). Check with "smpctl image verify".`,
		Example: `  COSIGN_PASSWORD=… smpctl sign --image ghcr.io/smp/order-svc@sha256:4f… --key cosign.key`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := imageref.Reference(ref)
			if err != nil {
				return err
			}
			pem, err := os.ReadFile(key)
			if err != nil {
				return fault.Invalidf("read --key %s: %v", key, err)
			}
			signer, err := signing.LoadSigner(pem, []byte(a.Getenv("COSIGN_PASSWORD")))
			if err != nil {
				return fmt.Errorf("--key %s: %w", key, err)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), registryTimeout)
			defer cancel()
			res, err := signing.Sign(ctx, r, signer, a.access())
			if err != nil {
				return err
			}
			return a.Render(res, func(w io.Writer) error {
				for _, s := range res.SBOMs {
					fmt.Fprintf(w, "signed sbom  %s\n", s)
				}
				_, err := fmt.Fprintf(w, "signed image %s\n", res.Image)
				return err
			})
		},
	}
	cmd.Flags().StringVar(&ref, "image", "", "image reference: REPO@sha256:… (a tag is resolved to its digest first)")
	cmd.Flags().StringVar(&key, "key", "", "cosign private key (cosign.key); password in COSIGN_PASSWORD")
	_ = cmd.MarkFlagRequired("image")
	_ = cmd.MarkFlagRequired("key")
	cmd.AddCommand(newSignGenerateKeyCmd(a))
	return cmd
}

func newSignGenerateKeyCmd(a *App) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "generate-key [--output-dir DIR]",
		Short: "Write a cosign-compatible key pair: cosign.key (encrypted with COSIGN_PASSWORD) and cosign.pub",
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			privPath, pubPath := filepath.Join(dir, "cosign.key"), filepath.Join(dir, "cosign.pub")
			for _, p := range []string{privPath, pubPath} {
				if _, err := os.Stat(p); err == nil {
					return fault.Invalidf("%s exists: refusing to overwrite a key; move it away or pick --output-dir", p)
				}
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fault.Invalidf("--output-dir %s: %v", dir, err)
			}
			password := a.Getenv("COSIGN_PASSWORD")
			if password == "" {
				fmt.Fprintln(a.Stderr, "sign: COSIGN_PASSWORD is empty: the private key is encrypted with an empty password")
			}
			priv, pub, err := signing.GenerateKeyPair([]byte(password))
			if err != nil {
				return err
			}
			if err := os.WriteFile(privPath, priv, 0o600); err != nil {
				return fmt.Errorf("write %s: %w", privPath, err)
			}
			if err := os.WriteFile(pubPath, pub, 0o644); err != nil {
				return errors.Join(fmt.Errorf("write %s: %w", pubPath, err), os.Remove(privPath))
			}
			out := map[string]string{"privateKey": privPath, "publicKey": pubPath}
			return a.Render(out, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "private key %s\npublic key  %s\n", privPath, pubPath)
				return err
			})
		},
	}
	cmd.Flags().StringVar(&dir, "output-dir", ".", "directory for cosign.key and cosign.pub")
	return cmd
}

func loadVerifier(path string) (signature.Verifier, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fault.Invalidf("read --key %s: %v", path, err)
	}
	v, err := signing.LoadVerifier(pem)
	if err != nil {
		return nil, fmt.Errorf("--key %s: %w", path, err)
	}
	return v, nil
}
