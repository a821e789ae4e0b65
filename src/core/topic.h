#pragma once
// The topic-exchange index: a trie over the dot-separated words of binding keys, with a child
// per literal word plus one '*' child (exactly one word) and one '#' child (zero or more words).
// Matching walks the routing key's words, so its cost depends on the key and on the patterns
// that can match it, not on the number of unrelated bindings.
//
// Words follow RabbitMQ: "" has no words, "a..b" has an empty middle word, "a." ends with one.
// Consecutive '#' words ("#.#") are folded into one when a pattern is added; they match alike.
//
//   topic_trie t;
//   t.add("stock.#", dest);
//   route_result r;  t.match("stock.usd.nyse", r);   // r holds dest once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/exchange.h"
#include "core/string_map.h"

namespace warren::core {

class topic_trie {
public:
    topic_trie();
    ~topic_trie();
    // The same (pattern, dest) may be added more than once (bindings that differ only in
    // arguments); each add needs its own remove.
    void add(std::string_view pattern, const binding_dest& d);
    bool remove(std::string_view pattern, const binding_dest& d);
    // Appends every destination whose pattern matches, each at most once per call.
    void match(std::string_view routing_key, route_result& out);
    size_t size() const { return _size; }  // number of (pattern, dest) entries
    size_t node_count() const { return _nodes; }

    // Splits like RabbitMQ's topic exchange; exposed for tests.
    static void split(std::string_view key, std::vector<std::string_view>& words);

private:
    struct node;
    void match_from(node* n, size_t i, route_result& out);
    bool remove_from(node* n, size_t i, const binding_dest& d, bool& found);

    std::unique_ptr<node> _root;
    std::vector<std::string_view> _words;  // scratch
    uint64_t _epoch = 0;
    size_t _size = 0;
    size_t _nodes = 1;
};

}  // namespace warren::core
