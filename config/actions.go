package config

// Actions configures the actions section. Its fields are documented where they are declared; paths in
// problems start with "actions.".
type Actions struct {
	// Enabled turns the feature on.
	Enabled bool `yaml:"enabled"`
}

func (x *Actions) applyEnv(getenv func(string) string) {}

func (x *Actions) setDefaults() {}

func (x *Actions) validate() []Problem { return nil }
