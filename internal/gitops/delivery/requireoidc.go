package delivery

import "fmt"

// RequireOIDCVersion is the format version that added requireOIDC (issue
// #15). An older smpctl reads such a repository but must not write it: it
// would take a typed --run for a CI run.
const RequireOIDCVersion = 3

// validateRequireOIDC checks requireOIDC against the format version.
func (c *Config) validateRequireOIDC() []error {
	var errs []error
	for i, e := range c.Environments {
		if e.RequireOIDC && c.Version < RequireOIDCVersion {
			errs = append(errs, fmt.Errorf("environments[%d].requireOIDC: requireOIDC was added in format version %d, and this file says version: %d: write version: %d at the top of %s, so that an older smpctl reads the repository but does not write past it", i, RequireOIDCVersion, c.Version, RequireOIDCVersion, FileName))
		}
	}
	return errs
}
