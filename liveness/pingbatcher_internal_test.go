package liveness

import (
	"errors"
	"maps"
	"slices"
	"testing"
)

// TestTakeLeavesShardsTheirOwnMaps checks that the batch a flush takes is
// never a map a shard still uses, even when the first shards are empty.
func TestTakeLeavesShardsTheirOwnMaps(t *testing.T) {
	pb := &PingBatcher{cfg: newConfig(nil)}
	for i := range pb.shards {
		pb.shards[i].pending = make(map[bucketKey]*bucket)
	}
	// Bit 3 goes to shard 3; shards 0 to 2 stay empty.
	if err := pb.Ping("model", 30, "0", 1<<3); err != nil {
		t.Fatal(err)
	}
	batch := pb.take()
	if len(batch) != 1 || maps.Collect(batch[bucketKey{"model", 30}].fields.all())[0] != 1<<3 {
		t.Fatalf("took %v", batch)
	}
	// A ping after the take, to shard 0, for another slot, must not reach
	// the batch already taken.
	if err := pb.Ping("model", 60, "0", 1); err != nil {
		t.Fatal(err)
	}
	if len(batch) != 1 {
		t.Fatalf("a later ping changed the taken batch: %v", batch)
	}
	if next := pb.take(); len(next) != 1 || next[bucketKey{"model", 60}] == nil {
		t.Fatalf("second take: %v", next)
	}
}

// TestDeadPingBatcherIsDeadAtOnce checks that a batcher made dead is dead
// when the constructor returns: Wait returns at once.
func TestDeadPingBatcherIsDeadAtOnce(t *testing.T) {
	pb := NewDeadPingBatcher(errors.New("boom"))
	select {
	case <-pb.tomb.Dead():
	default:
		t.Errorf("NewDeadPingBatcher returned a batcher that is not dead yet")
	}
}

// TestPingTakesFieldNamesAsWritten checks which field names Ping takes,
// and the index it keeps the ping under for each: names as a pinger
// writes them (layout.AsWritten), of an index whose sequences fit.
func TestPingTakesFieldNamesAsWritten(t *testing.T) {
	for _, c := range []struct {
		name  string
		index uint64
		ok    bool
	}{
		{"0", 0, true},
		{"a", 10, true},
		{"0a", 10, true},
		{"3e8", 1000, true},
		{"208208208208207", 0x208208208208207, true},
		{"ffffffffffffffff", 0, false},
		{"", 0, false},
		{"A", 0, false},
		{"1.2", 0, false},
		{"$bit", 0, false},
		{"g", 0, false},
		{"10000000000000000", 0, false},
	} {
		pb := &PingBatcher{cfg: newConfig(nil)}
		for i := range pb.shards {
			pb.shards[i].pending = make(map[bucketKey]*bucket)
		}
		err := pb.Ping("model", 30, c.name, 1)
		if ok := err == nil; ok != c.ok {
			t.Errorf("Ping of field %q: %v; want taken %v", c.name, err, c.ok)
			continue
		}
		if !c.ok {
			continue
		}
		if got := maps.Collect(pb.take()[bucketKey{"model", 30}].fields.all()); !maps.Equal(got, map[uint64]uint64{c.index: 1}) {
			t.Errorf("Ping of field %q kept %v; want field %d", c.name, got, c.index)
		}
	}
}

// TestPingsAreWrittenUnderTheIndexName checks that pings kept by field
// index are written in index order, each under its index's hexadecimal
// name: a name with a leading zero joins the field a watcher reads.
func TestPingsAreWrittenUnderTheIndexName(t *testing.T) {
	pb := &PingBatcher{cfg: newConfig(nil)}
	for i := range pb.shards {
		pb.shards[i].pending = make(map[bucketKey]*bucket)
	}
	for _, p := range []struct {
		field string
		bit   uint64
	}{{"10", 1}, {"0a", 1 << 2}, {"2", 1 << 3}, {"a", 1 << 4}} {
		if err := pb.Ping("model", 30, p.field, p.bit); err != nil {
			t.Fatal(err)
		}
	}
	got := sortedFields(maps.Collect(pb.take()[bucketKey{"model", 30}].fields.all()))
	want := []FieldBits{{Field: "2", Bits: 1 << 3}, {Field: "a", Bits: 1<<2 | 1<<4}, {Field: "10", Bits: 1}}
	if !slices.Equal(got, want) {
		t.Fatalf("fields %v, want %v", got, want)
	}
}
