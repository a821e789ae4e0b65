// Wall-clock bounds in unit tests, scaled with the build. The sanitizer build (make asan: ASan +
// UBSan at -O1) runs a few times slower than Release, so an upper bound on how long something may
// take is written scaled(bound): multiplied by WARREN_TIME_SCALE (3 there, 1 otherwise; set by
// warren_test() in cmake/warren.cmake). Lower bounds (not before N ms) are not scaled.
#pragma once

#ifndef WARREN_TIME_SCALE
#define WARREN_TIME_SCALE 1
#endif

namespace warren::test {

inline constexpr int time_scale = WARREN_TIME_SCALE;
inline constexpr bool sanitized = WARREN_TIME_SCALE > 1;

template <class T>
constexpr T scaled(T bound) {
    return bound * time_scale;
}

}  // namespace warren::test
