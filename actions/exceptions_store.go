package actions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/dedupegate/dedupegate/dataverse"
)

// FileStore keeps exceptions in a JSON file: {"exceptions":[{"pair":…,"at":…,"by":…}]}.
// Writers take an exclusive lock on <file>.lock and replace the file atomically (temporary file,
// fsync, rename), so readers never see half a file. Its version is the file's modification time
// and size. Use it with the in-process index on a single instance (or a shared volume).
type FileStore struct{ Path string }

type fileDoc struct {
	Exceptions []Exception `json:"exceptions"`
}

func (s FileStore) read() (fileDoc, error) {
	var doc fileDoc
	data, err := os.ReadFile(s.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return doc, nil
	}
	if err != nil {
		return doc, err
	}
	if len(data) == 0 {
		return doc, nil
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return doc, fmt.Errorf("%s: %w", s.Path, err)
	}
	return doc, nil
}

// Load implements ExceptionStore.
func (s FileStore) Load(ctx context.Context) ([]string, error) {
	doc, err := s.read()
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(doc.Exceptions))
	for _, e := range doc.Exceptions {
		out = append(out, e.Pair)
	}
	return out, nil
}

// Version implements ExceptionStore.
func (s FileStore) Version(ctx context.Context) (string, error) {
	st, err := os.Stat(s.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return "absent", nil
	}
	if err != nil {
		return "", err
	}
	return strconv.FormatInt(st.ModTime().UnixNano(), 10) + "-" + strconv.FormatInt(st.Size(), 10), nil
}

// Add implements ExceptionStore.
func (s FileStore) Add(ctx context.Context, e Exception) error {
	if err := os.MkdirAll(filepath.Dir(s.Path), 0o755); err != nil {
		return err
	}
	lock, err := os.OpenFile(s.Path+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer lock.Close()
	unlock, err := lockFile(lock)
	if err != nil {
		return fmt.Errorf("locking %s: %w", s.Path, err)
	}
	defer unlock()
	doc, err := s.read()
	if err != nil {
		return err
	}
	for _, x := range doc.Exceptions {
		if x.Pair == e.Pair {
			return nil
		}
	}
	doc.Exceptions = append(doc.Exceptions, e)
	sort.SliceStable(doc.Exceptions, func(i, j int) bool { return doc.Exceptions[i].At.Before(doc.Exceptions[j].At) })
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.Path), filepath.Base(s.Path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) //nolint:errcheck // gone after the rename
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), s.Path)
}

// RedisStore keeps exceptions in Redis next to the index: a set of pair keys, a hash of their
// details and a version counter, all under one hash tag so that they live in one Cluster slot
// and change together in a MULTI.
type RedisStore struct {
	Client redis.UniversalClient
	// Prefix is the index's key prefix (index.redis.prefix, default "dg:").
	Prefix string
}

func (s RedisStore) keys() (set, meta, version string) {
	base := s.Prefix + "{exceptions}"
	return base, base + ":meta", base + ":v"
}

// Load implements ExceptionStore.
func (s RedisStore) Load(ctx context.Context) ([]string, error) {
	set, _, _ := s.keys()
	return s.Client.SMembers(ctx, set).Result()
}

// Version implements ExceptionStore.
func (s RedisStore) Version(ctx context.Context) (string, error) {
	_, _, v := s.keys()
	n, err := s.Client.Get(ctx, v).Result()
	if errors.Is(err, redis.Nil) {
		return "0", nil
	}
	return n, err
}

// Add implements ExceptionStore.
func (s RedisStore) Add(ctx context.Context, e Exception) error {
	set, meta, v := s.keys()
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = s.Client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.SAdd(ctx, set, e.Pair)
		p.HSetNX(ctx, meta, e.Pair, data)
		p.Incr(ctx, v)
		return nil
	})
	return err
}

// Details returns the stored details of every exception (the review command's listing).
func (s RedisStore) Details(ctx context.Context) ([]Exception, error) {
	_, meta, _ := s.keys()
	m, err := s.Client.HGetAll(ctx, meta).Result()
	if err != nil {
		return nil, err
	}
	out := make([]Exception, 0, len(m))
	for pair, raw := range m {
		var e Exception
		if json.Unmarshal([]byte(raw), &e) != nil {
			e = Exception{Pair: pair}
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, nil
}

// DataverseStore reads exceptions from Dataverse itself: the review tasks dismissed as "not a
// duplicate" (category dedupegate-not-duplicate, the pair key in subcategory). Nothing else
// stores them, so every instance and the review command agree by construction; the price is
// one paged query per refresh. Add is a no-op: the dismissal of the task is the record.
type DataverseStore struct{ Client Dataverse }

// Load implements ExceptionStore.
func (s DataverseStore) Load(ctx context.Context) ([]string, error) {
	var out []string
	q := dataverse.Query{Select: []string{"subcategory"}, Filter: dataverse.Eq("category", categoryNotDuplicate)}
	err := s.Client.List(ctx, "task", q, func(rows []map[string]any) error {
		for _, r := range rows {
			if k := rowStr(r, "subcategory"); k != "" {
				out = append(out, k)
			}
		}
		return nil
	})
	return out, err
}

// Version implements ExceptionStore: unknown, so every refresh loads.
func (s DataverseStore) Version(ctx context.Context) (string, error) { return "", nil }

// Add implements ExceptionStore.
func (s DataverseStore) Add(ctx context.Context, e Exception) error { return nil }
