package gateway

import (
	"fmt"

	"github.com/dedupegate/dedupegate/config"
	"github.com/dedupegate/dedupegate/configs"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

// EmbeddedRulesName names the shipped default rules in messages.
const EmbeddedRulesName = "rules.yaml (embedded default)"

// LoadRules loads the rules every command uses: path if given, else the config's rules_file,
// else the defaults embedded in the binary; with the matching reference data the config names
// (nicknames, company suffixes, default phone region). serve, sandbox, validate, scan and sync
// all load through here, so the keys a sync files records under are the keys serve looks up.
func LoadRules(cfg *config.Config, path string) (*rules.File, error) {
	lex, err := matcher.LoadLexicon(matcher.LexiconFiles{
		Nicknames:       cfg.Resolve(cfg.Matching.NicknamesFile),
		CompanySuffixes: cfg.Resolve(cfg.Matching.CompanySuffixesFile),
		DefaultRegion:   cfg.Matching.DefaultRegion,
	})
	if err != nil {
		return nil, fmt.Errorf("matching data: %w", err)
	}
	if path == "" {
		path = cfg.RulesPath()
	}
	if path == "" {
		return rules.ParseFile(configs.DefaultRules, EmbeddedRulesName, lex)
	}
	return rules.LoadRulesFile(path, lex)
}

// anyExceptions reports a pair as "not a duplicate" when any of its lists does: the rules
// file's static pairs and the review workflow's dismissed pairs.
type anyExceptions []rules.Exceptions

func (a anyExceptions) NotDuplicate(entityA, idA, entityB, idB string) bool {
	for _, x := range a {
		if x.NotDuplicate(entityA, idA, entityB, idB) {
			return true
		}
	}
	return false
}
