package config

// Sections owned by other parts of the gateway live in their own files (checkapi.go, audit.go,
// actions.go), each with setDefaults, applyEnv and validate methods called from here.

func (c *Config) applyExtensionEnv(getenv func(string) string) {
	c.CheckAPI.applyEnv(getenv)
	c.Audit.applyEnv(getenv)
	c.Actions.applyEnv(getenv)
}

func (c *Config) setExtensionDefaults() {
	c.CheckAPI.setDefaults()
	c.Audit.setDefaults()
	c.Actions.setDefaults()
}

func (c *Config) validateExtensions() []Problem {
	var ps []Problem
	ps = append(ps, c.CheckAPI.validate()...)
	ps = append(ps, c.Audit.validate()...)
	ps = append(ps, c.Actions.validate()...)
	return ps
}
