#pragma once
// seq_map<V>: an open-addressing hash map from a non-zero uint64 sequence number to V, used for
// a queue's unacked table. Unlike std::unordered_map it allocates only when it grows, so the
// steady state (deliver, ack, deliver, ...) allocates nothing. Linear probing with backward-
// shift deletion (no tombstones). Key 0 is reserved as "empty".
//
//   seq_map<int> m;  m.insert(7, 1);  if (int* v = m.find(7)) ...;  m.erase(7);

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace warren::core {

template <typename V>
class seq_map {
public:
    size_t size() const { return _size; }
    bool empty() const { return _size == 0; }

    // Inserts or overwrites.
    void insert(uint64_t key, V value) {
        assert(key != 0);
        if ((_size + 1) * 4 > _slots.size() * 3) grow();
        size_t i = slot_of(key);
        while (_slots[i].key != 0) {
            if (_slots[i].key == key) {
                _slots[i].value = std::move(value);
                return;
            }
            i = (i + 1) & _mask;
        }
        _slots[i].key = key;
        _slots[i].value = std::move(value);
        ++_size;
    }

    V* find(uint64_t key) {
        if (_size == 0 || key == 0) return nullptr;
        for (size_t i = slot_of(key);; i = (i + 1) & _mask) {
            if (_slots[i].key == key) return &_slots[i].value;
            if (_slots[i].key == 0) return nullptr;
        }
    }

    // Removes and returns the value, if present.
    std::optional<V> take(uint64_t key) {
        if (_size == 0 || key == 0) return std::nullopt;
        size_t i = slot_of(key);
        for (;; i = (i + 1) & _mask) {
            if (_slots[i].key == key) break;
            if (_slots[i].key == 0) return std::nullopt;
        }
        std::optional<V> out(std::move(_slots[i].value));
        // Backward-shift: pull later members of the probe run into the hole.
        size_t hole = i;
        for (size_t j = (hole + 1) & _mask; _slots[j].key != 0; j = (j + 1) & _mask) {
            size_t home = slot_of(_slots[j].key);
            // Move j into the hole if its home is not cyclically in (hole, j].
            bool between = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
            if (!between) {
                _slots[hole].key = _slots[j].key;
                _slots[hole].value = std::move(_slots[j].value);
                hole = j;
            }
        }
        _slots[hole].key = 0;
        _slots[hole].value = V{};
        --_size;
        return out;
    }

    bool erase(uint64_t key) { return take(key).has_value(); }

    void clear() {
        for (auto& s : _slots) {
            s.key = 0;
            s.value = V{};
        }
        _size = 0;
    }

    // Calls f(key, value&) for every entry, in no particular order. f must not modify the map.
    template <typename F>
    void for_each(F&& f) {
        for (auto& s : _slots)
            if (s.key != 0) f(s.key, s.value);
    }

private:
    struct slot {
        uint64_t key = 0;
        V value{};
    };

    size_t slot_of(uint64_t key) const {
        // Fibonacci hashing: consecutive seqs spread across the table.
        return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> 32) & _mask;
    }

    void grow() {
        std::vector<slot> old = std::move(_slots);
        size_t n = old.empty() ? 16 : old.size() * 2;
        _slots.assign(n, slot{});
        _mask = n - 1;
        _size = 0;
        for (auto& s : old)
            if (s.key != 0) insert(s.key, std::move(s.value));
    }

    std::vector<slot> _slots;
    size_t _mask = 0;
    size_t _size = 0;
};

}  // namespace warren::core
