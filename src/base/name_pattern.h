#pragma once
// name_pattern: a regular expression from a user, searched in a name (a policy's pattern, a
// permission's configure/write/read pattern, the management API's `name=...&use_regex=true`).
//
//   auto p = name_pattern::compile("^amq\\.");
//   if (!p) reject(p.error());              // RE2's description of what is wrong
//   else if (p->search(queue_name)) ...     // anywhere in the name, like Erlang's re:run
//
// RE2, not std::regex: these patterns come from users and are matched against names that other
// users choose, so matching must take linear time (std::regex backtracks: `^(a+)+$` against 30
// a's and a '!' takes seconds, against a 255-byte name for ever), compiling must not recurse once
// per character (std::regex overflows the stack on a 50,000-character pattern) and counts in the
// pattern must not overflow (std::regex does signed overflow on `\11111111111111`). RE2's syntax
// is Perl's, as RabbitMQ's Erlang `re` (PCRE) is, without back-references and look-around, which
// RE2 refuses with an error. Names are bytes, so both pattern and name are read as Latin-1, as
// Erlang's `re` reads binaries: a UTF-8 name matches its UTF-8 pattern byte for byte.

#include "base/result.h"

#include <memory>
#include <string>
#include <string_view>

namespace re2 {
class RE2;
}

namespace warren {

class name_pattern {
public:
    enum class letter_case { sensitive, ignored };

    // The error is RE2's text, e.g. "missing ): (open".
    static basic_result<name_pattern, std::string> compile(
        std::string_view pattern, letter_case c = letter_case::sensitive);

    // True when the pattern matches somewhere in name.
    bool search(std::string_view name) const;

    const std::string& pattern() const;

private:
    explicit name_pattern(std::shared_ptr<const re2::RE2> re) : _re(std::move(re)) {}
    std::shared_ptr<const re2::RE2> _re;  // shared: copies of a policy set share the program
};

}  // namespace warren
