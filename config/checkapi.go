package config

// CheckAPI configures the check_api section. Its fields are documented where they are declared; paths in
// problems start with "check_api.".
type CheckAPI struct {
	// Enabled turns the feature on.
	Enabled bool `yaml:"enabled"`
}

func (x *CheckAPI) applyEnv(getenv func(string) string) {}

func (x *CheckAPI) setDefaults() {}

func (x *CheckAPI) validate() []Problem { return nil }
