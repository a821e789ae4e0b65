#include "base/name_pattern.h"

#include <re2/re2.h>

namespace warren {

namespace {
// A pattern is config, at most a few hundred bytes in practice. The cap keeps one API request
// from making the broker compile megabytes; RE2 bounds the program's memory itself (max_mem).
constexpr size_t max_pattern_bytes = 16 * 1024;
}  // namespace

basic_result<name_pattern, std::string> name_pattern::compile(std::string_view pattern,
                                                              letter_case c) {
    if (pattern.size() > max_pattern_bytes)
        return std::string("pattern too long (") + std::to_string(pattern.size()) +
               " bytes; at most " + std::to_string(max_pattern_bytes) + ")";
    RE2::Options o;
    o.set_encoding(RE2::Options::EncodingLatin1);
    o.set_log_errors(false);
    o.set_case_sensitive(c == letter_case::sensitive);
    auto re = std::make_shared<const RE2>(re2::StringPiece(pattern.data(), pattern.size()), o);
    if (!re->ok()) return re->error();
    return name_pattern(std::move(re));
}

bool name_pattern::search(std::string_view name) const {
    return RE2::PartialMatch(re2::StringPiece(name.data(), name.size()), *_re);
}

const std::string& name_pattern::pattern() const { return _re->pattern(); }

}  // namespace warren
