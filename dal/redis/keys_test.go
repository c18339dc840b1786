package redis_test

import (
	"strconv"
	"strings"
	"testing"

	rsredis "github.com/learecordshop/recordshop/dal/redis"
)

// hashTag is the part of a key Redis Cluster hashes to pick its slot: what lies between the first "{" and the
// first "}" after it when that is not empty, the whole key otherwise.
func hashTag(key string) string {
	open := strings.IndexByte(key, '{')
	if open < 0 {
		return key
	}
	n := strings.IndexByte(key[open+1:], '}')
	if n <= 0 {
		return key
	}
	return key[open+1 : open+1+n]
}

// TestKeysShareTheirPartitionSlot: every key one script touches must hash to one slot on Redis Cluster, which
// holds when they all carry the partition's tag as their first {...}.
func TestKeysShareTheirPartitionSlot(t *testing.T) {
	const p = 16
	k := rsredis.Keys{Namespace: "shop:", Partitions: p}
	for _, id := range []int64{1, 7, 15, 16, 23, 1_000_003} {
		part := k.Partition(id)
		if part < 0 || part >= p {
			t.Fatalf("disc %d: partition %d out of [0, %d)", id, part, p)
		}
		keys := []string{k.Disc(id), k.Bought(id), k.Idempotency(id, buyer, "key-1"), k.Inactive(part),
			k.Stream(part), k.Pending(part), k.DeadLetters(part)}
		for _, key := range keys {
			if !strings.HasPrefix(key, k.Namespace) {
				t.Errorf("key %q is outside the namespace %q", key, k.Namespace)
			}
			if got, want := hashTag(key), strconv.Itoa(part); got != want {
				t.Errorf("disc %d: key %q hashes on %q, want the partition tag %q", id, key, got, want)
			}
		}
		if k.Partition(id+p) != part || hashTag(k.Disc(id+p)) != hashTag(k.Disc(id)) {
			t.Errorf("discs %d and %d are in partitions %d and %d, want the same", id, id+p, part, k.Partition(id+p))
		}
		if k.Partition(id+1) == part || hashTag(k.Disc(id+1)) == hashTag(k.Disc(id)) {
			t.Errorf("discs %d and %d share partition %d", id, id+1, part)
		}
		if k.Disc(id) == k.Disc(id+p) || k.Bought(id) == k.Bought(id+p) {
			t.Errorf("discs %d and %d share a key", id, id+p)
		}
	}
	if k.Idempotency(7, buyer, "key-1") == k.Idempotency(7, other, "key-1") {
		t.Error("two customers' idempotency keys collide")
	}
}
