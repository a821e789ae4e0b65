#pragma once
// Small helpers for the standard containers.
//
// shrink_when_sparse(v): a vector keeps its peak capacity for life, so one that once held a
// flood (9,000 connections of a vhost, their alarm listeners) would keep megabytes after they
// are gone. Called after erasing, it gives the spare capacity back once the vector is less
// than a quarter full (and above `keep` elements of capacity): amortised O(1), since the
// vector must lose three quarters of its elements again before the next reallocation.

#include <cstddef>
#include <vector>

namespace warren {

template <typename T, typename A>
void shrink_when_sparse(std::vector<T, A>& v, size_t keep = 64) {
    if (v.capacity() > keep && v.size() < v.capacity() / 4) v.shrink_to_fit();
}

}  // namespace warren
