package config

// Audit configures the audit section. Its fields are documented where they are declared; paths in
// problems start with "audit.".
type Audit struct {
	// Enabled turns the feature on.
	Enabled bool `yaml:"enabled"`
}

func (x *Audit) applyEnv(getenv func(string) string) {}

func (x *Audit) setDefaults() {}

func (x *Audit) validate() []Problem { return nil }
