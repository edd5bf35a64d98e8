package redisindex

// SlotSizes tells BenchmarkIndex1M how the bytes of a record slot's value divide: the entries'
// ids (refs), attributes (mask, lengths and values), key ids, and the rest (version byte,
// lengths of several entries).
func SlotSizes(v string) (entries, ids, attrs, kids, rest int, err error) {
	es, err := decodeEntries(v)
	if err != nil {
		return 0, 0, 0, 0, 0, err
	}
	for i := range es {
		e := &es[i]
		body := len(appendEntry(nil, e))
		ref := len(appendRef(nil, e.ref))
		ids += ref
		kids += len(e.kids) * kidLen
		attrs += body - ref - len(e.kids)*kidLen
	}
	return len(es), ids, attrs, kids, len(v) - ids - attrs - kids, nil
}
