#pragma once
// Errors of the storage layer: I/O failures, corruption found in a file, a file written by a
// newer (unknown) format version, and misuse. Store calls return store::result<T>; the broker
// maps a store error to what its protocol needs (an AMQP 541 or a refusal to start).
//
//   store::result<std::string> r = log.read(pos);
//   if (!r) WLOG_WARN("read failed: {}", r.error().text);

#include <string>

#include "base/result.h"

namespace warren::store {

enum class errc {
    io_error,             // a system call failed (text carries errno's message and the path)
    corruption,           // bytes on disk fail their checksum or do not parse
    not_found,            // no such file / segment / record
    invalid_argument,     // caller misuse (record too large, duplicate message id)
    unsupported_version,  // file written by a format version this build does not know
    failed,               // the log hit an earlier write/fsync error and refuses more work
};

struct error {
    errc code = errc::io_error;
    std::string text;
};

template <typename T>
using result = basic_result<T, error>;
using status = basic_result<void, error>;

inline error make_error(errc c, std::string text) {
    return error{c, std::move(text)};
}

}  // namespace warren::store
