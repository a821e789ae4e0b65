#include "core/topic.h"

#include <algorithm>

namespace warren::core {

struct topic_trie::node {
    string_map<std::unique_ptr<node>> children;  // literal words
    std::unique_ptr<node> star;                  // '*'
    std::unique_ptr<node> hash;                  // '#'
    // Patterns ending here, with how many times each was added (bindings that differ only in
    // their arguments share one entry).
    std::vector<std::pair<binding_dest, uint32_t>> dests;
    uint64_t mark = 0;  // match epoch: dests appended already

    bool empty() const { return children.empty() && !star && !hash && dests.empty(); }
};

topic_trie::topic_trie() : _root(std::make_unique<node>()) {}
topic_trie::~topic_trie() = default;

void topic_trie::split(std::string_view key, std::vector<std::string_view>& words) {
    words.clear();
    if (key.empty()) return;
    size_t start = 0;
    for (;;) {
        size_t dot = key.find('.', start);
        if (dot == std::string_view::npos) {
            words.push_back(key.substr(start));
            return;
        }
        words.push_back(key.substr(start, dot - start));
        start = dot + 1;
    }
}

namespace {
// Folds runs of '#' words into one.
void normalize(std::vector<std::string_view>& words) {
    auto out = words.begin();
    for (auto it = words.begin(); it != words.end(); ++it) {
        if (*it == "#" && out != words.begin() && *(out - 1) == "#") continue;
        *out++ = *it;
    }
    words.erase(out, words.end());
}
}  // namespace

void topic_trie::add(std::string_view pattern, const binding_dest& d) {
    split(pattern, _words);
    normalize(_words);
    node* n = _root.get();
    for (auto w : _words) {
        std::unique_ptr<node>* slot;
        if (w == "*") {
            slot = &n->star;
        } else if (w == "#") {
            slot = &n->hash;
        } else {
            auto it = n->children.find(w);
            if (it == n->children.end()) it = n->children.emplace(std::string(w), nullptr).first;
            slot = &it->second;
        }
        if (!*slot) {
            *slot = std::make_unique<node>();
            ++_nodes;
        }
        n = slot->get();
    }
    auto it =
        std::find_if(n->dests.begin(), n->dests.end(), [&](const auto& e) { return e.first == d; });
    if (it != n->dests.end())
        ++it->second;
    else
        n->dests.emplace_back(d, 1);
    ++_size;
}

bool topic_trie::remove(std::string_view pattern, const binding_dest& d) {
    split(pattern, _words);
    normalize(_words);
    bool found = false;
    remove_from(_root.get(), 0, d, found);
    if (found) --_size;
    return found;
}

// Returns true if n became empty (the caller may free it).
bool topic_trie::remove_from(node* n, size_t i, const binding_dest& d, bool& found) {
    if (i == _words.size()) {
        auto it = std::find_if(n->dests.begin(), n->dests.end(),
                               [&](const auto& e) { return e.first == d; });
        if (it != n->dests.end()) {
            if (--it->second == 0) n->dests.erase(it);
            found = true;
        }
        return n->empty();
    }
    auto w = _words[i];
    auto prune = [&](std::unique_ptr<node>& child) {
        if (child && remove_from(child.get(), i + 1, d, found)) {
            child.reset();
            --_nodes;
        }
    };
    if (w == "*") {
        prune(n->star);
    } else if (w == "#") {
        prune(n->hash);
    } else {
        auto it = n->children.find(w);
        if (it != n->children.end()) {
            if (remove_from(it->second.get(), i + 1, d, found)) {
                n->children.erase(it);
                --_nodes;
            }
        }
    }
    return n->empty();
}

void topic_trie::match(std::string_view routing_key, route_result& out) {
    split(routing_key, _words);
    ++_epoch;
    match_from(_root.get(), 0, out);
}

void topic_trie::match_from(node* n, size_t i, route_result& out) {
    const size_t len = _words.size();
    if (n->hash) {
        // '#' consumes zero or more words: continue after it from every later position.
        for (size_t j = i; j <= len; ++j) match_from(n->hash.get(), j, out);
    }
    if (i == len) {
        if (n->mark != _epoch) {
            n->mark = _epoch;
            for (auto& e : n->dests) out.add(e.first);
        }
        return;
    }
    if (!n->children.empty()) {
        auto it = n->children.find(_words[i]);
        if (it != n->children.end()) match_from(it->second.get(), i + 1, out);
    }
    if (n->star) match_from(n->star.get(), i + 1, out);
}

}  // namespace warren::core
