package liveness

import (
	"errors"
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
	if len(batch) != 1 || batch[bucketKey{"model", 30}].fields["0"] != 1<<3 {
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
