#pragma once
// Small helpers for the standard containers.
//
// shrink_when_sparse(v): a vector keeps its peak capacity for life, so one that once held a
// flood (9,000 connections of a vhost, their alarm listeners) would keep megabytes after they
// are gone. Called after erasing, it gives the spare capacity back once the vector is less
// than a quarter full (and above `keep` elements of capacity): amortised O(1), since the
// vector must lose three quarters of its elements again before the next reallocation.
// For an unordered_map, whose bucket array also stays at its peak (the message store's index of
// live messages: 11.6 MB of buckets after a million messages were deleted), the same once it
// holds fewer than one element per eight buckets: rehashed to what it holds.

#include <cstddef>
#include <unordered_map>
#include <vector>

namespace warren {

template <typename T, typename A>
void shrink_when_sparse(std::vector<T, A>& v, size_t keep = 64) {
    if (v.capacity() > keep && v.size() < v.capacity() / 4) v.shrink_to_fit();
}

template <typename K, typename V, typename H, typename E, typename A>
void shrink_when_sparse(std::unordered_map<K, V, H, E, A>& m, size_t keep = 1024) {
    if (m.bucket_count() > keep && m.size() < m.bucket_count() / 8) m.rehash(0);
}

}  // namespace warren
